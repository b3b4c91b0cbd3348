using KruxOS.Bridge.Tests.Support;
using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.EndToEnd;

/// <summary>
/// mcp-bridge over <c>wss://</c> (ADR 0025): the page's troubleshooting command works on the gateway's own host with no
/// CA setting; anything that is not that gateway — another CA, another name, a CA file other users could have
/// planted — is refused before the token leaves the process, and <c>KRUXOS_CA_CERT</c> replaces discovery.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class TlsTests : IAsyncLifetime
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("kruxos-bridge-tls-");
    private TestGateway _gateway = null!;
    private string _token = "";

    /// <summary>A user's home; the gateway's data directory is its default ~/.kruxos.</summary>
    private string Home => Path.Combine(_root.FullName, "home");

    public async ValueTask InitializeAsync()
    {
        // Traversable, as a real home's parents are: the sandbox (and so the gateway's readiness) needs its data directory reachable.
        File.SetUnixFileMode(_root.FullName, (UnixFileMode)Convert.ToInt32("755", 8));
        Directory.CreateDirectory(Home, (UnixFileMode)Convert.ToInt32("755", 8));
        _gateway = await TestGateway.StartAsync(Path.Combine(Home, ".kruxos"));
        _token = await _gateway.CreateAgentAsync("default-agent");
    }

    public async ValueTask DisposeAsync()
    {
        await _gateway.DisposeAsync();
        _root.Delete(recursive: true);
    }

    // The page's command: KRUXOS_ENDPOINT=wss://localhost:7700 KRUXOS_AGENT_NAME=default-agent KRUXOS_AGENT_TOKEN=<64-char hex> mcp-bridge
    private Dictionary<string, string> PageEnvironment(int port, string? home = null) => new()
    {
        ["HOME"] = home ?? Home,
        ["KRUXOS_ENDPOINT"] = $"wss://localhost:{port}",
        ["KRUXOS_AGENT_NAME"] = "default-agent",
        ["KRUXOS_AGENT_TOKEN"] = _token,
    };

    private static Task<ProcessResult> Initialize(Dictionary<string, string> env) =>
        BridgeRunner.Bridge(env, BridgeProcess.Initialize(1) + "\n");

    private static void AssertConnected(ProcessResult r)
    {
        Assert.True(r.ExitCode == ExitCodes.Ok, $"exit {r.ExitCode}: {r.StdErr}");
        Assert.Contains("\"serverInfo\"", r.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_pages_troubleshooting_command_connects_over_wss_on_the_gateways_own_host_with_no_ca_setting()
    {
        AssertConnected(await Initialize(PageEnvironment(_gateway.GatewayPort)));

        // a data directory elsewhere is found the way the CLI finds the control socket: KRUXOS_DATA_DIR
        var elsewhere = Directory.CreateDirectory(Path.Combine(_root.FullName, "other-home")).FullName;
        var withDataDir = PageEnvironment(_gateway.GatewayPort, elsewhere);
        withDataDir["KRUXOS_DATA_DIR"] = _gateway.DataDir;
        AssertConnected(await Initialize(withDataDir));

        // and without any of it the certificate is refused, with the fix in the message
        var nothing = await Initialize(PageEnvironment(_gateway.GatewayPort, elsewhere));
        Assert.Equal(ExitCodes.GatewayUnreachable, nothing.ExitCode);
        Assert.Contains("KRUXOS_CA_CERT", nothing.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_impostor_with_a_certificate_from_another_ca_never_sees_the_token()
    {
        // arrange: something else answers on the endpoint, with a valid-looking certificate for localhost from its own CA
        await using var impostor = new TlsImpostor("localhost");

        // act: the page's command, pointed at it, on a host where the real gateway's CA is trusted
        var r = await Initialize(PageEnvironment(impostor.Port));

        // assert: not one byte (let alone the Authorization header) reached the impostor: refused during the handshake
        await Task.Delay(500, TestContext.Current.CancellationToken);
        Assert.Equal("", impostor.Received);
        Assert.Equal(ExitCodes.GatewayUnreachable, r.ExitCode);
        Assert.Contains("TLS: the gateway's certificate (CN=impostor) is not trusted", r.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(_token, r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_local_ca_file_that_other_users_can_write_is_not_trusted()
    {
        // arrange: the impostor's CA where discovery looks (KRUXOS_DATA_DIR/tls/ca.crt), writable by everyone — as a
        // local user who could write there would plant it
        await using var impostor = new TlsImpostor("localhost");
        var planted = Directory.CreateDirectory(Path.Combine(_root.FullName, "planted", "tls")).FullName;
        var caFile = impostor.WriteAuthority(Path.Combine(planted, "ca.crt"));
        File.SetUnixFileMode(caFile, (UnixFileMode)Convert.ToInt32("666", 8));
        var env = PageEnvironment(impostor.Port, Path.Combine(_root.FullName, "nobody-home"));
        env["KRUXOS_DATA_DIR"] = Path.GetDirectoryName(planted)!;

        // act + assert: ignored, so the impostor is refused
        var planted0666 = await Initialize(env);
        Assert.Equal(ExitCodes.GatewayUnreachable, planted0666.ExitCode);
        Assert.Equal("", impostor.Received);

        // the same file, writable only by its owner, is trusted (the check is the mode, not the place)
        File.SetUnixFileMode(caFile, (UnixFileMode)Convert.ToInt32("644", 8));
        var owned = await Initialize(env);
        Assert.Contains("Authorization: Bearer", await WaitForReceived(impostor), StringComparison.Ordinal);
        Assert.NotEqual(ExitCodes.Ok, owned.ExitCode); // the impostor refuses the upgrade
    }

    private static async Task<string> WaitForReceived(TlsImpostor impostor)
    {
        for (var i = 0; i < 100 && impostor.Received.Length == 0; i++) await Task.Delay(50);
        return impostor.Received;
    }

    [Fact]
    public async Task KRUXOS_CA_CERT_replaces_discovery_and_a_bad_one_is_a_usage_error()
    {
        await using var impostor = new TlsImpostor("localhost");
        var otherCa = impostor.WriteAuthority(Path.Combine(_root.FullName, "other-ca.crt"));

        // set to another CA: the local gateway's CA (which discovery would find) is no longer trusted
        var env = PageEnvironment(_gateway.GatewayPort);
        env["KRUXOS_CA_CERT"] = otherCa;
        var refused = await Initialize(env);
        Assert.Equal(ExitCodes.GatewayUnreachable, refused.ExitCode);
        Assert.Contains($"KRUXOS_CA_CERT={otherCa}", refused.StdErr, StringComparison.Ordinal);

        // set to the gateway's CA (as on another machine, after copying ca.crt): connects, with no local discovery at all
        var copied = Path.Combine(_root.FullName, "gateway-ca.crt");
        File.Copy(_gateway.CaCertificatePath, copied);
        env = PageEnvironment(_gateway.GatewayPort, Path.Combine(_root.FullName, "laptop"));
        env["KRUXOS_CA_CERT"] = copied;
        AssertConnected(await Initialize(env));

        // unreadable: exit 1, never a silent fallback
        env["KRUXOS_CA_CERT"] = Path.Combine(_root.FullName, "missing.crt");
        var missing = await Initialize(env);
        Assert.Equal(ExitCodes.Usage, missing.ExitCode);
        Assert.Contains("KRUXOS_CA_CERT", missing.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_trusted_certificate_for_another_name_is_refused()
    {
        // the CA is trusted, but the certificate is for another host than the one in the URL
        await using var impostor = new TlsImpostor("otherhost.example");
        var env = PageEnvironment(impostor.Port);
        env["KRUXOS_CA_CERT"] = impostor.WriteAuthority(Path.Combine(_root.FullName, "impostor-ca.crt"));
        var r = await Initialize(env);
        Assert.Equal("", impostor.Received);
        Assert.Equal(ExitCodes.GatewayUnreachable, r.ExitCode);
        Assert.Contains("is not valid for 'localhost'", r.StdErr, StringComparison.Ordinal);
    }
}
