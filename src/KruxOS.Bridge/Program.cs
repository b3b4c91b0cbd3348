using KruxOS.Bridge;

var parsed = BridgeOptions.Parse(args, Environment.GetEnvironmentVariable);
if (parsed.Options is null)
{
    if (parsed.ExitCode == ExitCodes.Ok)
    {
        await Console.Out.WriteLineAsync(parsed.Message);
        return ExitCodes.Ok;
    }
    await Console.Error.WriteLineAsync($"mcp-bridge: {parsed.Message} (exit {parsed.ExitCode})");
    return parsed.ExitCode;
}

ServerCertificateTrust? trust = null;
if (parsed.Options.Endpoint.Scheme == "wss")
{
    var resolved = ServerCertificateTrust.FromEnvironment();
    if (resolved.Trust is null)
    {
        await Console.Error.WriteLineAsync($"mcp-bridge: {resolved.Error} (exit {ExitCodes.Usage})");
        return ExitCodes.Usage;
    }
    trust = resolved.Trust;
}

var log = new BridgeLog(Console.Error, parsed.Options.LogLevel);
if (trust is not null) log.Debug("TLS: trusting " + trust.Description);
await using var stdin = Console.OpenStandardInput();
await using var stdout = Console.OpenStandardOutput();
var bridge = new Bridge(parsed.Options, log, stdin, stdout, new GatewayConnector(parsed.Options, trust).ConnectAsync);
var code = await bridge.RunAsync();
if (code != ExitCodes.Ok) log.Error($"exiting with code {code}");
return code;
