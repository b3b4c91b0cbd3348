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

var log = new BridgeLog(Console.Error, parsed.Options.LogLevel);
await using var stdin = Console.OpenStandardInput();
await using var stdout = Console.OpenStandardOutput();
var bridge = new Bridge(parsed.Options, log, stdin, stdout);
var code = await bridge.RunAsync();
if (code != ExitCodes.Ok) log.Error($"exiting with code {code}");
return code;
