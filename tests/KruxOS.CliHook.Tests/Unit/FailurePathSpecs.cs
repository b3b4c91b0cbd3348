using System.Net;
using System.Net.Sockets;
using System.Text;
using KruxOS.CliHook.Tests.Support;
using KruxOS.Core.Identity;
using KruxOS.Testing;

namespace KruxOS.CliHook.Tests.Unit;

/// <summary>
/// The hook never fails open: every way a run can go wrong ends in a deny the model can read (with its
/// code), in the client's format, exit 0 — except the two refusals with their own exit codes.
/// </summary>
public sealed class FailurePathSpecs
{
    private static readonly string[] Claude = ["--cli", "claude-code"];

    private static void AssertDenied(Hook.Outcome o, string code)
    {
        Assert.Equal(ExitCodes.Answered, o.ExitCode);
        Assert.Equal("deny", o.Decision);
        Assert.Contains($"[code: {code}]", o.Reason);
        Assert.DoesNotContain(Hook.Token, o.StdOut + o.StdErr);
    }

    [Fact]
    public async Task Should_deny_when_the_gateway_is_unreachable()
    {
        var port = TestGateway.FreePort(); // nothing listens there

        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), [.. Claude, "--gateway", $"http://127.0.0.1:{port}"]);

        AssertDenied(o, "gateway_unreachable");
    }

    [Fact]
    public async Task Should_deny_when_the_gateway_does_not_answer_before_the_deadline()
    {
        // a real socket that accepts and never answers
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var accepted = silent.AcceptTcpClientAsync(TestContext.Current.CancellationToken);

        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), [.. Claude, "--gateway", $"http://127.0.0.1:{port}", "--timeout", "0.5"]);

        AssertDenied(o, "timeout");
        (await accepted).Dispose();
    }

    [Fact]
    public async Task Should_deny_when_stdin_stays_open_past_the_deadline()
    {
        var o = await RunWithStdinAsync(new NeverEndingStream(), [.. Claude, "--timeout", "0.3"]);

        AssertDenied(o, "timeout");
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, """{"error_type":"internal","message":"boom"}""", "gateway_error")]
    [InlineData(HttpStatusCode.ServiceUnavailable, "", "gateway_error")]
    [InlineData(HttpStatusCode.Unauthorized, """{"error_type":"auth.invalid_credentials","message":"The token is not valid."}""", "auth_refused")]
    [InlineData(HttpStatusCode.Forbidden, """{"error_type":"auth.user_token_required","message":"user tokens only"}""", "auth_refused")]
    [InlineData(HttpStatusCode.TooManyRequests, """{"error_type":"auth.rate_limited","message":"slow down"}""", "auth_refused")]
    [InlineData(HttpStatusCode.BadRequest, """{"error_type":"invalid_input","message":"'client' is required"}""", "invalid_request")]
    [InlineData(HttpStatusCode.OK, "not json", "gateway_error")]
    [InlineData(HttpStatusCode.OK, """{"capability":"filesystem.read"}""", "gateway_error")]
    [InlineData(HttpStatusCode.OK, """{"decision":"maybe"}""", "gateway_error")]
    [InlineData(HttpStatusCode.OK, """{"decision":"pending"}""", "gateway_error")]
    public async Task Should_deny_when_the_gateway_answer_is_an_error_or_unreadable(HttpStatusCode status, string body, string code)
    {
        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), Claude, StubGateway.Always(status, body));

        AssertDenied(o, code);
    }

    [Fact]
    public async Task Should_deny_with_the_gateway_code_and_reason_when_policy_denies()
    {
        var stub = StubGateway.Always(HttpStatusCode.OK,
            """{"decision":"deny","capability":"filesystem.delete","tier":"blocked","code":"PolicyDenied","reason":"Policy rule 'user.yaml#1' denied execution of 'filesystem.delete': no deletes"}""");

        var o = await Hook.RunAsync(Fixtures.Bytes("codex/apply-patch-delete"), ["--cli", "codex"], stub);

        AssertDenied(o, "PolicyDenied");
        Assert.Contains("no deletes", o.Reason);
    }

    [Fact]
    public async Task Should_deny_a_pending_approval_at_once_with_its_id()
    {
        var stub = StubGateway.Always(HttpStatusCode.OK,
            """{"decision":"pending","capability":"filesystem.write","tier":"approval_required","approval_id":"appr-0123456789abcdef","reason":"pending"}""");

        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/write"), Claude, stub);

        AssertDenied(o, "approval_pending");
        Assert.Contains("pending approval appr-0123456789abcdef, retry after it is approved", o.Reason);
    }

    [Theory]
    [InlineData("claude-code/todowrite", "unmapped_tool")]
    [InlineData("codex/mcp-tool", "unmapped_tool")]
    [InlineData("claude-code/read-missing-path", "invalid_tool_input")]
    [InlineData("codex/apply-patch-malformed", "invalid_tool_input")]
    [InlineData("claude-code/post-tool-use", "unsupported_event")]
    public async Task Should_deny_without_asking_the_gateway_when_the_call_cannot_be_mapped(string fixture, string code)
    {
        var stub = StubGateway.Always(HttpStatusCode.OK, """{"decision":"allow"}""");

        var o = await Hook.RunAsync(Fixtures.Bytes(fixture), [], stub);

        AssertDenied(o, code);
        Assert.Empty(stub.Requests);
    }

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("null")]
    [InlineData("""{"hook_event_name":"PreToolUse","tool_name":"Bash"}""")]
    public async Task Should_deny_a_malformed_event(string stdin)
    {
        var o = await Hook.RunAsync(Encoding.UTF8.GetBytes(stdin), Claude, StubGateway.Always(HttpStatusCode.OK, """{"decision":"allow"}"""));

        AssertDenied(o, "malformed_event");
    }

    [Fact]
    public async Task Should_deny_an_event_larger_than_the_limit()
    {
        var huge = new byte[HookEventParser.MaxEventBytes + 1];
        Array.Fill(huge, (byte)' ');

        var o = await Hook.RunAsync(huge, Claude);

        AssertDenied(o, "malformed_event");
    }

    [Theory]
    [InlineData("--cli", "cursor")]
    [InlineData("--gateway", "ftp://127.0.0.1")]
    [InlineData("--frobnicate", "1")]
    [InlineData("--auth-socket", "relative/auth.sock")]
    [InlineData("--label", "bad\u0001label")]
    public async Task Should_deny_when_the_hook_command_is_misconfigured(string flag, string value)
    {
        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), [flag, value], StubGateway.Always(HttpStatusCode.OK, """{"decision":"allow"}"""));

        AssertDenied(o, "configuration");
    }

    /// <summary>A fake auth socket: records what it was asked and answers <paramref name="answer"/>.</summary>
    private sealed class FakeSocket(AuthSocketProtocol.Answer answer)
    {
        public List<(string Socket, string Label)> Asked { get; } = [];

        public Task<AuthSocketProtocol.Answer> MintAsync(string socket, string label, TimeSpan timeout, CancellationToken ct)
        {
            Asked.Add((socket, label));
            return Task.FromResult(answer);
        }
    }

    private const string Minted = "krx_sess_MintedCredentialForTheHook0123456789";

    [Theory]
    [InlineData("claude-code", "claude-code/read", "claude-code")]
    [InlineData("codex", "codex/bash-git-log", "primary")]
    public async Task Should_mint_a_credential_for_the_clients_seed_label_when_no_token_is_in_the_environment(string cli, string fixture, string label)
    {
        var socket = new FakeSocket(new AuthSocketProtocol.Answer(Minted, null, ""));
        var stub = StubGateway.Always(HttpStatusCode.OK, """{"decision":"allow","capability":"filesystem.read","tier":"autonomous"}""");

        var o = await Hook.RunAsync(Fixtures.Bytes(fixture), ["--cli", cli], stub, token: null, mint: socket.MintAsync,
            extraEnv: new Dictionary<string, string?> { ["KRUXOS_AUTH_SOCKET"] = "/run/test/auth.sock" });

        Assert.Equal(ExitCodes.Answered, o.ExitCode);
        Assert.Equal(("/run/test/auth.sock", label), Assert.Single(socket.Asked));
        Assert.All(stub.Authorizations, a => Assert.Equal("Bearer " + Minted, a));
        Assert.DoesNotContain(Minted, o.StdOut + o.StdErr);
    }

    [Fact]
    public async Task Should_prefer_a_token_from_the_environment_and_take_label_and_socket_from_flags()
    {
        var socket = new FakeSocket(new AuthSocketProtocol.Answer(Minted, null, ""));
        var stub = StubGateway.Always(HttpStatusCode.OK, """{"decision":"allow","capability":"filesystem.read"}""");

        var fromEnv = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), Claude, stub, mint: socket.MintAsync);
        Assert.Empty(socket.Asked);
        Assert.Equal("Bearer " + Hook.Token, Assert.Single(stub.Authorizations));

        var flagged = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), [.. Claude, "--label", "desk", "--auth-socket", "/tmp/x/auth.sock"], stub, token: null,
            mint: socket.MintAsync, extraEnv: new Dictionary<string, string?> { ["KRUXOS_AUTH_SOCKET"] = "/ignored.sock" });
        Assert.Equal(ExitCodes.Answered, fromEnv.ExitCode);
        Assert.Equal(ExitCodes.Answered, flagged.ExitCode);
        Assert.Equal(("/tmp/x/auth.sock", "desk"), Assert.Single(socket.Asked));
    }

    [Theory]
    [InlineData(AuthSocketProtocol.ErrorTypes.Missing, true, ExitCodes.CredentialMissing, "credential_missing")]
    [InlineData(AuthSocketProtocol.ErrorTypes.Locked, true, ExitCodes.CredentialSourceLocked, "credential_locked")]
    [InlineData(AuthSocketProtocol.ErrorTypes.Forbidden, true, ExitCodes.CredentialSourceUnavailable, "credential_unavailable")]
    [InlineData(AuthSocketProtocol.ErrorTypes.Unavailable, false, ExitCodes.CredentialSourceUnavailable, "credential_unavailable")]
    public async Task Should_deny_with_its_exit_code_and_ask_nothing_when_no_credential_can_be_minted(string type, bool answered, int exit, string code)
    {
        var socket = new FakeSocket(new AuthSocketProtocol.Answer(null, type, "no credential for you", answered));
        var stub = StubGateway.Always(HttpStatusCode.OK, """{"decision":"allow"}""");

        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), Claude, stub, token: null, mint: socket.MintAsync);

        Assert.Equal(exit, o.ExitCode);
        Assert.Equal("deny", o.Decision);
        Assert.Contains($"[code: {code}]", o.Reason);
        Assert.Contains("no credential for you", o.StdErr);
        Assert.Empty(stub.Requests);
    }

    [Fact]
    public async Task Should_deny_unavailable_when_the_auth_socket_does_not_exist()
    {
        var stub = StubGateway.Always(HttpStatusCode.OK, """{"decision":"allow"}""");

        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), Claude, stub, token: null,
            extraEnv: new Dictionary<string, string?> { ["KRUXOS_AUTH_SOCKET"] = Path.Combine(Path.GetTempPath(), "no-such-dir-" + Guid.NewGuid().ToString("N"), "auth.sock") });

        Assert.Equal(ExitCodes.CredentialSourceUnavailable, o.ExitCode);
        Assert.Equal("deny", o.Decision);
        Assert.Contains("[code: credential_unavailable]", o.Reason);
        Assert.Contains("does not exist", o.Reason);
        Assert.Empty(stub.Requests);
    }

    [Fact]
    public async Task Should_exit_2_without_reading_stdin_when_argv_carries_a_credential()
    {
        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/read"), ["--cli", "claude-code", Hook.Token]);

        Assert.Equal(ExitCodes.Blocked, o.ExitCode);
        Assert.Equal("", o.StdOut);
        Assert.DoesNotContain(Hook.Token, o.StdErr);
        Assert.Contains("credential", o.StdErr);
    }

    [Fact]
    public async Task Should_deny_the_whole_tool_call_when_one_of_its_capability_calls_is_denied()
    {
        var stub = new StubGateway((body, n) => n == 1
            ? (HttpStatusCode.OK, """{"decision":"allow","capability":"filesystem.edit","tier":"notify"}""")
            : (HttpStatusCode.OK, """{"decision":"deny","capability":"filesystem.edit","code":"PolicyDenied","reason":"not this one"}"""));

        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/multiedit"), Claude, stub);

        AssertDenied(o, "PolicyDenied");
        Assert.Equal(2, stub.Requests.Count);
    }

    [Fact]
    public async Task Should_allow_when_every_capability_call_is_allowed_and_send_what_the_gateway_needs()
    {
        var stub = new StubGateway((body, _) => (HttpStatusCode.OK, $$"""{"decision":"allow","capability":"{{body["capability"]}}","tier":"notify"}"""));

        var o = await Hook.RunAsync(Fixtures.Bytes("claude-code/multiedit"), Claude, stub);

        Assert.Equal(ExitCodes.Answered, o.ExitCode);
        Assert.Equal("allow", o.Decision);
        Assert.Equal(2, stub.Requests.Count);
        Assert.All(stub.Authorizations, a => Assert.Equal("Bearer " + Hook.Token, a));
        var first = stub.Requests[0];
        Assert.Equal("claude-code", first["client"]!.GetValue<string>());
        Assert.Equal("MultiEdit", first["native_tool"]!.GetValue<string>());
        Assert.Equal("filesystem.edit", first["capability"]!.GetValue<string>());
        Assert.Equal("src/app.py", first["arguments"]!["path"]!.GetValue<string>());
        Assert.Equal("/home/dev/proj", first["cwd"]!.GetValue<string>());
        Assert.Equal("3f1c2a7e-5b0d-4f7e-9a51-2d9c7b8e6a10", first["session_id"]!.GetValue<string>());
        Assert.DoesNotContain(Hook.Token, o.StdOut + o.StdErr);
    }

    [Fact]
    public async Task Should_answer_a_Codex_allow_with_empty_output_and_exit_0()
    {
        var o = await Hook.RunAsync(Fixtures.Bytes("codex/bash-git-log"), [], StubGateway.Always(HttpStatusCode.OK, """{"decision":"allow","capability":"git.log"}"""));

        Assert.Equal(ExitCodes.Answered, o.ExitCode);
        Assert.Equal("", o.StdOut);
    }

    private static async Task<Hook.Outcome> RunWithStdinAsync(Stream stdin, string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await HookRunner.RunAsync(args, k => k == "KRUXOS_USER_TOKEN" ? Hook.Token : null, stdin, stdout, stderr);
        return new Hook.Outcome(code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>A stdin that never ends (the client did not close it).</summary>
    private sealed class NeverEndingStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => 0; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
