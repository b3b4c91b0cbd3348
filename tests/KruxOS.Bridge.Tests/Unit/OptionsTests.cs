namespace KruxOS.Bridge.Tests.Unit;

/// <summary>Configuration: endpoint normalisation, the argv credential check, agent and user mode, upgrade headers and failure classification.</summary>
public sealed class OptionsTests
{
    private const string Hex64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("ws://gw:7700", "ws://gw:7700/mcp")]
    [InlineData("ws://gw:7700/", "ws://gw:7700/mcp")]
    [InlineData("wss://gw.example", "wss://gw.example/mcp")]
    [InlineData("wss://gw.example:7700/mcp", "wss://gw.example:7700/mcp")]
    [InlineData("ws://127.0.0.1:7700/ws", "ws://127.0.0.1:7700/ws")]
    [InlineData("http://gw:7700", "ws://gw:7700/mcp")]
    [InlineData("https://gw/proxy/mcp", "wss://gw/proxy/mcp")]
    [InlineData("  WS://GW:7700  ", "ws://gw:7700/mcp")]
    public void Endpoints_are_normalised(string input, string expected)
    {
        Assert.True(BridgeOptions.TryNormalizeEndpoint(input, out var uri, out var error), error);
        Assert.Equal(expected, uri.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("gw:7700/mcp")]
    [InlineData("ftp://gw/")]
    [InlineData("ws://gw:7700/mcp?token=abc")]
    [InlineData("ws://user:pw@gw:7700/mcp")]
    public void Bad_endpoints_are_refused(string input) =>
        Assert.False(BridgeOptions.TryNormalizeEndpoint(input, out _, out _));

    [Theory]
    [InlineData(true, "--label", "krx_user_abc")]
    [InlineData(true, "--gateway=ws://h/?t=krx_user_x")]
    [InlineData(true, Hex64)]
    [InlineData(true, "--token=" + Hex64)]
    [InlineData(false, "--gateway", "ws://127.0.0.1:7700", "--label", "primary", "--cli", "claude-code")]
    [InlineData(false, "0123456789abcdef")]
    public void Argv_credentials_are_detected(bool expected, params string[] args) =>
        Assert.Equal(expected, BridgeOptions.ArgvCarriesCredential(args));

    private static Func<string, string?> Env(params (string Key, string Value)[] vars)
    {
        var d = vars.ToDictionary(v => v.Key, v => v.Value);
        return k => d.GetValueOrDefault(k);
    }

    [Fact]
    public void Credential_on_argv_exits_2_before_anything_else()
    {
        var r = BridgeOptions.Parse(["--label", "krx_user_secret"], Env());
        Assert.Null(r.Options);
        Assert.Equal(ExitCodes.CredentialInArgv, r.ExitCode);
        Assert.DoesNotContain("krx_user_secret", r.Message);
    }

    [Fact]
    public void Agent_mode_without_a_token_is_missing_credential()
    {
        var r = BridgeOptions.Parse([], Env(("KRUXOS_ENDPOINT", "ws://h:7700"), ("KRUXOS_AGENT_NAME", "a1")));
        Assert.Equal(ExitCodes.CredentialMissing, r.ExitCode);
        Assert.Equal(ExitCodes.CredentialMissing, BridgeOptions.Parse([], Env()).ExitCode);
    }

    [Fact]
    public void Agent_mode_reads_the_environment()
    {
        var r = BridgeOptions.Parse([], Env(("KRUXOS_ENDPOINT", "wss://h:7700"), ("KRUXOS_AGENT_NAME", "a1"), ("KRUXOS_AGENT_TOKEN", Hex64), ("KRUXOS_LOG", "debug")));
        var o = Assert.IsType<BridgeOptions>(r.Options);
        Assert.Equal(BridgeMode.Agent, o.Mode);
        Assert.Equal("wss://h:7700/mcp", o.Endpoint.ToString());
        Assert.Equal("a1", o.AgentName);
        Assert.Equal(Hex64, o.Token);
        Assert.Equal(BridgeLogLevel.Debug, o.LogLevel);
        Assert.Equal(BridgeOptions.DefaultMaxResultBytes, o.MaxResultBytes);
    }

    [Fact]
    public void User_mode_takes_flags_and_the_user_token_from_the_environment()
    {
        var r = BridgeOptions.Parse(["--gateway", "ws://127.0.0.1:7711", "--label=claude-code", "--cli", "codex"],
            Env(("KRUXOS_USER_TOKEN", "krx_user_abcdefghijklmnopqrstuvwxyz"), ("KRUXOS_MAX_RESULT_BYTES", "65536")));
        var o = Assert.IsType<BridgeOptions>(r.Options);
        Assert.Equal(BridgeMode.User, o.Mode);
        Assert.Equal("ws://127.0.0.1:7711/mcp", o.Endpoint.ToString());
        Assert.Equal("claude-code", o.Label);
        Assert.Equal("codex", o.Cli);
        Assert.Equal(65536, o.MaxResultBytes);
        Assert.Null(o.AuthSocket);
        var headers = new GatewayConnector(o).Headers(o.Token!);
        Assert.Contains(headers, h => h.Key == "X-KruxOS-Client" && h.Value == "codex");
        Assert.DoesNotContain(headers, h => h.Key == "X-KruxOS-Agent");
    }

    [Fact]
    public void User_mode_without_a_user_token_mints_from_the_auth_socket()
    {
        var fallback = BridgeOptions.Parse(["--label", "primary", "--cli", "claude-code"], Env()).Options!;
        Assert.Null(fallback.Token);
        Assert.Equal(AuthSocketCredential.DefaultPath, fallback.AuthSocket);
        Assert.IsType<AuthSocketCredential>(fallback.Credentials());

        var configured = BridgeOptions.Parse(["--label", "primary"], Env(("KRUXOS_AUTH_SOCKET", "/tmp/x/auth.sock"))).Options!;
        Assert.Equal("/tmp/x/auth.sock", configured.AuthSocket);
        Assert.Contains("/tmp/x/auth.sock", configured.Credentials().Describe);
    }

    [Fact]
    public void A_label_the_gateway_could_never_hold_is_a_usage_error() =>
        Assert.Equal(ExitCodes.Usage, BridgeOptions.Parse(["--label", new string('l', 101)], Env()).ExitCode);

    [Theory]
    [InlineData("locked", ExitCodes.CredentialSourceLocked)]
    [InlineData("missing", ExitCodes.CredentialMissing)]
    [InlineData("forbidden", ExitCodes.CredentialSourceUnavailable)]
    [InlineData("unavailable", ExitCodes.CredentialSourceUnavailable)]
    [InlineData("invalid_request", ExitCodes.CredentialSourceUnavailable)]
    public void Auth_socket_refusals_map_to_exit_codes(string type, int code)
    {
        var r = AuthSocketCredential.Map(new KruxOS.Core.Identity.AuthSocketProtocol.Answer(null, type, "why"), "/s");
        Assert.Null(r.Token);
        Assert.Equal(code, r.ExitCode);
        var connect = new ConnectResult(null, ConnectFailure.Credential, r.Detail, r.ExitCode);
        Assert.Equal(code != ExitCodes.CredentialSourceUnavailable, connect.IsFinal);
    }

    [Fact]
    public void A_garbled_auth_socket_answer_is_unavailable()
    {
        foreach (var line in new[] { null, "", "not json", """{"ok":true,"token":"krx_user_notasession"}""" })
            Assert.Equal(ExitCodes.CredentialSourceUnavailable,
                AuthSocketCredential.Map(KruxOS.Core.Identity.AuthSocketProtocol.ParseAnswer(line), "/s").ExitCode);
        var good = KruxOS.Core.Identity.AuthSocketProtocol.ParseAnswer(
            KruxOS.Core.Identity.AuthSocketProtocol.Minted("krx_sess_abcdefghijklmnopqrstuvwxyz", DateTimeOffset.UnixEpoch, "l"));
        Assert.Equal("krx_sess_abcdefghijklmnopqrstuvwxyz", good.Token);
    }

    [Fact]
    public void A_session_credential_on_argv_is_refused() =>
        Assert.Equal(ExitCodes.CredentialInArgv, BridgeOptions.Parse(["--label", "krx_sess_abc"], Env()).ExitCode);

    [Theory]
    [InlineData("--cli", "vim")]
    [InlineData("--bogus")]
    [InlineData("--gateway")]
    public void Bad_flags_are_usage_errors(params string[] args) =>
        Assert.Equal(ExitCodes.Usage, BridgeOptions.Parse(args, Env(("KRUXOS_USER_TOKEN", "krx_user_abcdefghijklmnopqrstuvwxyz"))).ExitCode);

    [Fact]
    public void Too_small_a_result_cap_is_refused() =>
        Assert.Equal(ExitCodes.Usage, BridgeOptions.Parse([], Env(("KRUXOS_ENDPOINT", "ws://h"), ("KRUXOS_AGENT_TOKEN", Hex64), ("KRUXOS_MAX_RESULT_BYTES", "100"))).ExitCode);

    [Fact]
    public void Agent_headers_carry_the_name_and_the_bearer_token()
    {
        var o = BridgeOptions.Parse([], Env(("KRUXOS_ENDPOINT", "ws://h"), ("KRUXOS_AGENT_NAME", "a1"), ("KRUXOS_AGENT_TOKEN", Hex64))).Options!;
        var headers = new GatewayConnector(o).Headers(o.Token!);
        Assert.Contains(headers, h => h.Key == "Authorization" && h.Value == "Bearer " + Hex64);
        Assert.Contains(headers, h => h.Key == "X-KruxOS-Agent" && h.Value == "a1");
        Assert.DoesNotContain("token", o.Endpoint.ToString(), StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(401, ConnectFailure.Authentication)]
    [InlineData(403, ConnectFailure.Authentication)]
    [InlineData(429, ConnectFailure.Authentication)]
    [InlineData(404, ConnectFailure.Unreachable)]
    [InlineData(0, ConnectFailure.Unreachable)]
    public void Upgrade_failures_are_classified(int status, ConnectFailure expected) =>
        Assert.Equal(expected, GatewayConnector.Classify((System.Net.HttpStatusCode)status, new System.Net.WebSockets.WebSocketException("x")).Failure);
}
