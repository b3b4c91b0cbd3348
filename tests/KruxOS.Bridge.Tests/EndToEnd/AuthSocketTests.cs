using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Bridge.Tests.Support;
using KruxOS.Core.Control;
using KruxOS.Core.Identity;
using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.EndToEnd;

/// <summary>
/// User mode without <c>KRUXOS_USER_TOKEN</c>: the real bridge mints a short-lived credential from a real
/// gateway's auth socket, and every local-source failure has its own exit code (3 locked, 4 missing,
/// 5 unavailable, including a uid the socket refuses).
/// </summary>
public sealed class AuthSocketTests
{
    private static Dictionary<string, string> SocketEnv(string socket) => new() { ["KRUXOS_AUTH_SOCKET"] = socket };

    private static string[] UserArgs(TestGateway gw, string label) =>
        ["--gateway", $"ws://127.0.0.1:{gw.GatewayPort}", "--label", label, "--cli", "claude-code"];

    private static async Task<string> CreateUserTokenAsync(TestGateway gw, string label) =>
        (await gw.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = label }))["token"]!.GetValue<string>();

    [Fact]
    public async Task A_minted_credential_opens_a_user_session_and_the_bridge_never_shows_it()
    {
        await using var gw = await TestGateway.StartAsync();
        var userToken = await CreateUserTokenAsync(gw, "claude-code");

        await using var bridge = BridgeProcess.Start(new Dictionary<string, string> { ["KRUXOS_AUTH_SOCKET"] = gw.AuthSocket, ["KRUXOS_LOG"] = "debug" },
            UserArgs(gw, "claude-code"));
        await bridge.SendAsync(BridgeProcess.Initialize(1));
        var (init, _) = await bridge.ReadAnswerAsync(1);
        Assert.Equal("kruxos-gateway", init["result"]!["serverInfo"]!["name"]!.GetValue<string>());
        await bridge.SendAsync(BridgeProcess.Initialized);
        await bridge.SendAsync("""{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}""");
        var (list, _) = await bridge.ReadAnswerAsync(2);
        Assert.NotEmpty(list["result"]!["tools"]!.AsArray());
        await bridge.SendAsync(BridgeProcess.Call(3, "system__time"));
        var (time, _) = await bridge.ReadAnswerAsync(3);
        Assert.False(time["result"]!["isError"]?.GetValue<bool>() ?? false, time.ToJsonString());
        bridge.CloseStdin();
        Assert.Equal(ExitCodes.Ok, await bridge.WaitForExitAsync());
        Assert.DoesNotContain("krx_sess_", bridge.StdErr, StringComparison.Ordinal);
        Assert.DoesNotContain(userToken, bridge.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_label_with_no_user_token_exits_4_and_a_revoked_one_exits_3()
    {
        await using var gw = await TestGateway.StartAsync();
        var missing = await BridgeRunner.Bridge(SocketEnv(gw.AuthSocket), BridgeProcess.Initialize(1) + "\n", UserArgs(gw, "nobody-made-this"));
        Assert.Equal(ExitCodes.CredentialMissing, missing.ExitCode);
        Assert.Contains("no user token is labelled 'nobody-made-this'", missing.StdErr, StringComparison.Ordinal);

        await CreateUserTokenAsync(gw, "revoked-cli");
        var listed = await gw.ControlAsync(ControlProtocol.Methods.UserTokenList);
        var id = listed["tokens"]!.AsArray().Single(t => t!["label"]!.GetValue<string>() == "revoked-cli")!["id"]!.GetValue<string>();
        await gw.ControlAsync(ControlProtocol.Methods.UserTokenRevoke, new JsonObject { ["id"] = id });
        var locked = await BridgeRunner.Bridge(SocketEnv(gw.AuthSocket), BridgeProcess.Initialize(1) + "\n", UserArgs(gw, "revoked-cli"));
        Assert.Equal(ExitCodes.CredentialSourceLocked, locked.ExitCode);
        Assert.Contains("revoked", locked.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Minting_switched_off_exits_3()
    {
        await using var gw = await TestGateway.StartAsync(null, "--Gateway:MintCredentials", "false");
        await CreateUserTokenAsync(gw, "claude-code");
        var r = await BridgeRunner.Bridge(SocketEnv(gw.AuthSocket), BridgeProcess.Initialize(1) + "\n", UserArgs(gw, "claude-code"));
        Assert.Equal(ExitCodes.CredentialSourceLocked, r.ExitCode);
        Assert.Contains("switched off", r.StdErr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_absent_socket_and_a_silent_socket_exit_5()
    {
        var dir = Directory.CreateTempSubdirectory("kruxos-auth-");
        try
        {
            var absent = await BridgeRunner.Bridge(SocketEnv(Path.Combine(dir.FullName, "auth.sock")), "", "--label", "claude-code", "--gateway", "ws://127.0.0.1:1");
            Assert.Equal(ExitCodes.CredentialSourceUnavailable, absent.ExitCode);
            Assert.Contains("does not exist", absent.StdErr, StringComparison.Ordinal);

            // A socket that accepts but never answers: the bridge gives up after its timeout and fails closed.
            var silentPath = Path.Combine(dir.FullName, "silent.sock");
            using var silent = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            silent.Bind(new UnixDomainSocketEndPoint(silentPath));
            silent.Listen(4);
            var held = new List<Socket>();
            var accepting = Task.Run(async () =>
            {
                try { while (true) held.Add(await silent.AcceptAsync()); }
                catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
            });
            var quiet = await BridgeRunner.Bridge(SocketEnv(silentPath), "", "--label", "claude-code", "--gateway", "ws://127.0.0.1:1");
            Assert.Equal(ExitCodes.CredentialSourceUnavailable, quiet.ExitCode);
            Assert.Contains("did not answer", quiet.StdErr, StringComparison.Ordinal);
            silent.Close();
            await accepting;
            foreach (var s in held) s.Dispose();
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task A_peer_uid_outside_the_allowed_set_is_refused_and_an_allowed_one_is_served()
    {
        if (!OperatingSystem.IsLinux()) return;
        if (PeerUid() != 0 || !File.Exists("/usr/bin/setpriv"))
            Assert.Skip("needs root and setpriv to run the bridge as another uid");
        // A directory every uid can traverse, so the refusal comes from SO_PEERCRED, not from file modes.
        var dir = Directory.CreateTempSubdirectory("kruxos-auth-");
        File.SetUnixFileMode(dir.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var socket = Path.Combine(dir.FullName, "auth.sock");
        try
        {
            // 4242 is allowed (so the socket file is 0666); 65534 (nobody) is not.
            await using (var gw = await TestGateway.StartAsync(null, "--auth-socket", socket, "--Gateway:AuthSocketUids:0", "4242"))
            {
                await CreateUserTokenAsync(gw, "claude-code");
                var refused = await AsUid(65534, socket, UserArgs(gw, "claude-code"));
                Assert.Equal(ExitCodes.CredentialSourceUnavailable, refused.ExitCode);
                Assert.True(refused.StdErr.Contains("uid 65534 may not use the auth socket", StringComparison.Ordinal), refused.StdErr);
            }
            await using (var gw = await TestGateway.StartAsync(null, "--auth-socket", socket, "--Gateway:AuthSocketUids:0", "65534"))
            {
                await CreateUserTokenAsync(gw, "claude-code");
                var served = await AsUid(65534, socket, UserArgs(gw, "claude-code"));
                Assert.Equal(ExitCodes.Ok, served.ExitCode);
                Assert.Contains("\"serverInfo\"", served.StdOut, StringComparison.Ordinal);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Every_reconnect_mints_a_fresh_credential_so_a_gateway_restart_is_ridden_out()
    {
        var gw = await TestGateway.StartAsync();
        try
        {
            await CreateUserTokenAsync(gw, "codex");
            await using var bridge = BridgeProcess.Start(new Dictionary<string, string> { ["KRUXOS_AUTH_SOCKET"] = gw.AuthSocket, ["KRUXOS_LOG"] = "debug" },
                UserArgs(gw, "codex"));
            await bridge.SendAsync(BridgeProcess.Initialize(1));
            await bridge.ReadAnswerAsync(1);
            await bridge.SendAsync(BridgeProcess.Initialized);

            // The restarted gateway has forgotten every minted credential: only a new one gets the bridge back in.
            var restart = gw.RestartAsync();
            await bridge.WaitForLogAsync("reconnecting in");
            gw = await restart;
            await bridge.SendAsync(BridgeProcess.Call(2, "system__time"));
            var (answer, _) = await bridge.ReadAnswerAsync(2, TestTimeouts.Process);
            Assert.NotNull(answer["result"]);
            Assert.Contains("reconnected", bridge.StdErr, StringComparison.Ordinal);
            bridge.CloseStdin();
            Assert.Equal(ExitCodes.Ok, await bridge.WaitForExitAsync());
            Assert.DoesNotContain("krx_sess_", bridge.StdErr, StringComparison.Ordinal);
        }
        finally
        {
            await gw.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_socket_answers_malformed_requests_with_a_structured_error_and_a_credential_is_single_principal()
    {
        await using var gw = await TestGateway.StartAsync();
        await CreateUserTokenAsync(gw, "claude-code");

        var bad = AuthSocketProtocol.ParseAnswer(await ExchangeAsync(gw.AuthSocket, "{\"method\":\"steal\"}"));
        Assert.Equal(AuthSocketProtocol.ErrorTypes.InvalidRequest, bad.ErrorType);
        var notJson = AuthSocketProtocol.ParseAnswer(await ExchangeAsync(gw.AuthSocket, "hello"));
        Assert.Equal(AuthSocketProtocol.ErrorTypes.InvalidRequest, notJson.ErrorType);

        var minted = AuthSocketProtocol.ParseAnswer(await ExchangeAsync(gw.AuthSocket, AuthSocketProtocol.MintRequest("claude-code")));
        Assert.True(TokenHashing.IsSessionTokenShape(minted.Token));

        // Usable for MCP as the user principal only: not as an agent, not on the User API.
        using var http = new HttpClient();
        using (var rpc = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gw.GatewayPort}/rpc"))
        {
            rpc.Headers.Authorization = new("Bearer", minted.Token);
            rpc.Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"capabilities.list","params":{}}""", Encoding.UTF8, "application/json");
            using var ok = await http.SendAsync(rpc);
            Assert.Equal(System.Net.HttpStatusCode.OK, ok.StatusCode);
            Assert.Contains("\"capabilities\"", await ok.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        await gw.CreateAgentAsync("someone");
        using (var asAgent = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gw.GatewayPort}/rpc"))
        {
            asAgent.Headers.Authorization = new("Bearer", minted.Token);
            asAgent.Headers.Add("X-KruxOS-Agent", "someone");
            asAgent.Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"capabilities.list","params":{}}""", Encoding.UTF8, "application/json");
            using var refused = await http.SendAsync(asAgent);
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        // On the User API it serves cli-hook's decisions only (ADR 0021): not the views, never an approval.
        using (var userApi = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{gw.UserApiPort}/api/approvals"))
        {
            userApi.Headers.Authorization = new("Bearer", minted.Token);
            using var refused = await http.SendAsync(userApi);
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("auth.credential_scope", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
    }

    private static async Task<string?> ExchangeAsync(string path, string line)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await s.ConnectAsync(new UnixDomainSocketEndPoint(path));
        await using var stream = new NetworkStream(s, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\n"));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        using var cts = new CancellationTokenSource(TestTimeouts.Call);
        return await reader.ReadLineAsync(cts.Token);
    }

    private static Task<ProcessResult> AsUid(int uid, string socket, string[] args) =>
        ProcessRunner.RunAsync("/usr/bin/setpriv",
            ["--reuid", $"{uid}", "--regid", $"{uid}", "--clear-groups", "dotnet", BridgeProcess.Dll, .. args],
            new Dictionary<string, string> { ["KRUXOS_AUTH_SOCKET"] = socket, ["HOME"] = "/tmp", ["DOTNET_CLI_HOME"] = "/tmp" },
            stdin: BridgeProcess.Initialize(1) + "\n");

    private static uint PeerUid() => KruxOS.Gateway.Control.PeerCredentials.OwnUid();
}
