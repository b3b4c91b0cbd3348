using System.Text;
using System.Text.Json.Nodes;
using KruxOS.CliHook.Tests.Support;

namespace KruxOS.CliHook.Tests.Unit;

/// <summary>Reading both clients' events, recognising the client, and answering in its format.</summary>
public sealed class EventAndAnswerSpecs
{
    [Theory]
    [InlineData("claude-code/read", HookClient.ClaudeCode)]
    [InlineData("claude-code/bash-git-status", HookClient.ClaudeCode)]
    [InlineData("codex/bash-git-log", HookClient.Codex)]
    [InlineData("codex/apply-patch-add", HookClient.Codex)]
    public void Should_recognise_the_client_from_the_event_shape(string fixture, HookClient client)
    {
        Assert.True(HookEventParser.TryParse(Fixtures.Bytes(fixture), null, out var e, out var recognised, out _));
        Assert.Equal(client, recognised);
        Assert.Equal(client, e!.Client);
        Assert.Equal("/home/dev/proj", e.Cwd);
    }

    [Fact]
    public void Should_prefer_the_client_named_by_the_flag()
    {
        Assert.True(HookEventParser.TryParse(Fixtures.Bytes("codex/bash-git-log"), HookClient.ClaudeCode, out var e, out _, out _));
        Assert.Equal(HookClient.ClaudeCode, e!.Client);
    }

    [Theory]
    [InlineData("not json", "malformed_event")]
    [InlineData("[1,2]", "malformed_event")]
    [InlineData("""{"tool_name":"Read","tool_input":{},"cwd":"/x"}""", "malformed_event")]
    [InlineData("""{"hook_event_name":"PreToolUse","tool_input":{},"cwd":"/x"}""", "malformed_event")]
    [InlineData("""{"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":"x","cwd":"/x"}""", "malformed_event")]
    [InlineData("""{"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{}}""", "malformed_event")]
    [InlineData("""{"hook_event_name":"PreToolUse","tool_name":"Read","tool_input":{},"cwd":"relative"}""", "malformed_event")]
    [InlineData("""{"hook_event_name":"Stop"}""", "unsupported_event")]
    public void Should_deny_an_event_it_cannot_read(string json, string code)
    {
        Assert.False(HookEventParser.TryParse(Encoding.UTF8.GetBytes(json), null, out _, out _, out var denial));
        Assert.Equal(code, denial!.Code);
    }

    [Fact]
    public void Should_deny_a_PostToolUse_event()
    {
        Assert.False(HookEventParser.TryParse(Fixtures.Bytes("claude-code/post-tool-use"), null, out _, out _, out var denial));
        Assert.Equal("unsupported_event", denial!.Code);
    }

    [Fact]
    public void Should_answer_Claude_Code_with_hookSpecificOutput_allow_and_deny()
    {
        var allow = JsonNode.Parse(HookAnswer.Render(HookClient.ClaudeCode, HookVerdict.Allow("KruxOS allowed: filesystem.read")))!["hookSpecificOutput"]!;
        var deny = JsonNode.Parse(HookAnswer.Render(HookClient.ClaudeCode, HookVerdict.Deny(new HookDenial("PolicyDenied", "no"))))!["hookSpecificOutput"]!;

        Assert.Equal("PreToolUse", allow["hookEventName"]!.GetValue<string>());
        Assert.Equal("allow", allow["permissionDecision"]!.GetValue<string>());
        Assert.Equal("deny", deny["permissionDecision"]!.GetValue<string>());
        Assert.Contains("[code: PolicyDenied]", deny["permissionDecisionReason"]!.GetValue<string>());
    }

    [Fact]
    public void Should_answer_Codex_deny_with_hookSpecificOutput_and_allow_with_nothing()
    {
        var deny = JsonNode.Parse(HookAnswer.Render(HookClient.Codex, HookVerdict.Deny(new HookDenial("timeout", "slow"))))!["hookSpecificOutput"]!;

        Assert.Equal("deny", deny["permissionDecision"]!.GetValue<string>());
        Assert.Equal("PreToolUse", deny["hookEventName"]!.GetValue<string>());
        Assert.Equal("", HookAnswer.Render(HookClient.Codex, HookVerdict.Allow("ok")));
    }

    [Theory]
    [InlineData(new string[0], true)]
    [InlineData(new[] { "--cli", "codex", "--gateway", "http://127.0.0.1:7703/", "--timeout", "2.5" }, true)]
    [InlineData(new[] { "--cli=claude-code" }, true)]
    [InlineData(new[] { "--cli", "cursor" }, false)]
    [InlineData(new[] { "--gateway", "ws://127.0.0.1:7703" }, false)]
    [InlineData(new[] { "--gateway", "http://127.0.0.1:7703/?x=1" }, false)]
    [InlineData(new[] { "--timeout", "0" }, false)]
    [InlineData(new[] { "--verbose" }, false)]
    [InlineData(new[] { "--cli" }, false)]
    public void Should_parse_the_flags(string[] args, bool ok)
    {
        var parsed = HookOptions.Parse(args);
        Assert.Equal(ok, parsed.Options is not null);
        Assert.Null(parsed.ExitCode);
    }

    [Theory]
    [InlineData("krx_user_abcDEF123")]
    [InlineData("--gateway=http://x/?t=krx_user_abc")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")]
    public void Should_refuse_a_credential_in_argv_with_exit_2_without_echoing_it(string arg)
    {
        var parsed = HookOptions.Parse(["--cli", "codex", arg]);
        Assert.Equal(ExitCodes.Blocked, parsed.ExitCode);
        Assert.DoesNotContain(arg, parsed.Message);
    }
}
