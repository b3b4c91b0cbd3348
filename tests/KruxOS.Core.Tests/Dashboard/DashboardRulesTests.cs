using System.Text.Json;
using KruxOS.Core.Approvals;
using KruxOS.Core.Dashboard;
using Xunit;

namespace KruxOS.Core.Tests.Dashboard;

public sealed class DashboardRulesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Idle = TimeSpan.FromMinutes(30);
    private static readonly TimeSpan Life = TimeSpan.FromHours(12);

    [Theory]
    [InlineData(0, 0, SessionVerdict.Valid)]
    [InlineData(29, 0, SessionVerdict.Valid)]
    [InlineData(30, 0, SessionVerdict.Idle)]
    [InlineData(719, 715, SessionVerdict.Valid)]
    [InlineData(720, 719, SessionVerdict.Expired)]
    public void Should_end_a_session_when_idle_or_past_its_absolute_lifetime(int minutesSinceSignIn, int minutesSinceLastSeenOffset, SessionVerdict expected)
    {
        var session = new DashboardSession("t", "ops", "c", T0, T0.AddMinutes(minutesSinceLastSeenOffset));
        Assert.Equal(expected, DashboardRules.Check(session, T0.AddMinutes(minutesSinceSignIn), Idle, Life));
    }

    [Theory]
    [InlineData("https://127.0.0.1:7800", "127.0.0.1:7800", true)]
    [InlineData("https://LOCALHOST:7800", "localhost:7800", true)]
    [InlineData("https://[::1]:7800", "[::1]:7800", true)]
    [InlineData("https://kruxos.example", "kruxos.example", true)]
    [InlineData("https://kruxos.example:443", "kruxos.example", true)]
    [InlineData("http://127.0.0.1:7800", "127.0.0.1:7800", false)]
    [InlineData("https://127.0.0.1:7801", "127.0.0.1:7800", false)]
    [InlineData("https://evil.example", "127.0.0.1:7800", false)]
    [InlineData("https://127.0.0.1:7800.evil.example", "127.0.0.1:7800", false)]
    [InlineData("null", "127.0.0.1:7800", false)]
    [InlineData("", "127.0.0.1:7800", false)]
    [InlineData(null, "127.0.0.1:7800", false)]
    [InlineData("https://127.0.0.1:7800/", "127.0.0.1:7800", false)]
    [InlineData("https://user@127.0.0.1:7800", "127.0.0.1:7800", false)]
    public void Should_accept_only_the_dashboards_own_https_origin(string? origin, string host, bool same) =>
        Assert.Equal(same, DashboardRules.IsSameOrigin(origin, host));

    [Fact]
    public void Should_match_csrf_tokens_exactly_and_never_an_empty_one()
    {
        Assert.True(DashboardRules.TokensMatch("abc", "abc"));
        Assert.False(DashboardRules.TokensMatch("abc", "abd"));
        Assert.False(DashboardRules.TokensMatch("abc", "abcd"));
        Assert.False(DashboardRules.TokensMatch("", ""));
        Assert.False(DashboardRules.TokensMatch("abc", null));
    }
}

public sealed class ApprovalLinkTokenTests
{
    private static readonly byte[] Key = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
    private static readonly ApprovalLinkClaims Claims = new(ApprovalId.Parse("appr-3f9c0a7be21d4c58"), "link1", Now.AddMinutes(15), "root");

    [Fact]
    public void Should_verify_what_it_signed_until_it_expires()
    {
        var token = ApprovalLinkToken.Create(Key, Claims);
        var back = ApprovalLinkToken.Verify(Key, token, Now, out _);
        Assert.Equal(Claims with { Expires = DateTimeOffset.FromUnixTimeSeconds(Claims.Expires.ToUnixTimeSeconds()) }, back);
        Assert.Null(ApprovalLinkToken.Verify(Key, token, Now.AddMinutes(15), out var why));
        Assert.Equal(ApprovalLinkRefusal.Expired, why);
    }

    [Fact]
    public void Should_refuse_another_key_any_altered_part_and_garbage()
    {
        var token = ApprovalLinkToken.Create(Key, Claims);
        var otherKey = Key.Select(b => (byte)(b ^ 1)).ToArray();
        Assert.Null(ApprovalLinkToken.Verify(otherKey, token, Now, out var why));
        Assert.Equal(ApprovalLinkRefusal.Invalid, why);
        var parts = token.Split('.');
        // the claims of another approval under the original signature
        var other = ApprovalLinkToken.Create(Key, Claims with { ApprovalId = ApprovalId.Parse("appr-0000000000000001") }).Split('.')[1];
        Assert.Null(ApprovalLinkToken.Verify(Key, $"{parts[0]}.{other}.{parts[2]}", Now, out _));
        Assert.Null(ApprovalLinkToken.Verify(Key, $"v2.{parts[1]}.{parts[2]}", Now, out _));
        Assert.Null(ApprovalLinkToken.Verify(Key, $"{parts[0]}.{parts[1]}.{parts[2][..^1]}", Now, out _));
        foreach (var garbage in new[] { "", ".", "v1..", "v1.a.b", "v1.!!.??", new string('a', 600), "v1." + parts[1] })
            Assert.Null(ApprovalLinkToken.Verify(Key, garbage, Now, out _));
    }
}

public sealed class TextDiffTests
{
    [Fact]
    public void Should_show_an_append_as_added_lines_with_context()
    {
        var d = TextDiff.Unified("one\ntwo\n", "one\ntwo\nthree\n");
        Assert.Equal(1, d.Added);
        Assert.Equal(0, d.Removed);
        Assert.Equal([new('@', "@@ -1,2 +1,3 @@"), new(' ', "one"), new(' ', "two"), new('+', "three")], d.Lines);
    }

    [Fact]
    public void Should_align_a_change_in_the_middle_and_keep_hunks_apart()
    {
        var before = string.Join('\n', Enumerable.Range(1, 20).Select(i => $"l{i}")) + "\n";
        var after = before.Replace("l3\n", "L3\n", StringComparison.Ordinal).Replace("l18\n", "", StringComparison.Ordinal);
        var d = TextDiff.Unified(before, after);
        Assert.Equal(1, d.Added);
        Assert.Equal(2, d.Removed);
        Assert.Equal(2, d.Lines.Count(l => l.Kind == '@'));
        Assert.Contains(new DiffLine('-', "l3"), d.Lines);
        Assert.Contains(new DiffLine('+', "L3"), d.Lines);
        Assert.Contains(new DiffLine('-', "l18"), d.Lines);
    }

    [Fact]
    public void Should_diff_a_new_file_and_an_unchanged_one()
    {
        Assert.Equal(2, TextDiff.Unified("", "a\nb").Added);
        Assert.Empty(TextDiff.Unified("same\n", "same\n").Lines);
    }

    [Fact]
    public void Should_stay_bounded_on_huge_inputs()
    {
        var a = string.Join('\n', Enumerable.Range(0, 5000).Select(i => $"a{i}"));
        var b = string.Join('\n', Enumerable.Range(0, 5000).Select(i => $"b{i}"));
        var d = TextDiff.Unified(a, b, maxLines: 100);
        Assert.True(d.Truncated);
        Assert.True(d.Lines.Count <= 100);
        Assert.Equal(5000, d.Added);
        Assert.Equal(5000, d.Removed);
    }
}

public sealed class ApprovalEffectsTests
{
    private static JsonElement J(object o) => JsonSerializer.SerializeToElement(o);

    [Theory]
    [InlineData("ls", new string[0], "ls")]
    [InlineData("rm", new[] { "-rf", "my dir" }, "rm -rf 'my dir'")]
    [InlineData("sh", new[] { "-c", "echo $(id); it's" }, "sh -c 'echo $(id); it'\\''s'")]
    [InlineData("printf", new[] { "a\nb" }, "printf $'a\\x0ab'")]
    [InlineData("echo", new[] { "" }, "echo ''")]
    public void Should_quote_the_exact_command_line(string command, string[] args, string expected) =>
        Assert.Equal(expected, ApprovalEffects.CommandLine(command, args));

    [Fact]
    public void Should_describe_file_changes_commands_and_network_calls()
    {
        Assert.Equal("file_change", ApprovalEffects.Of("filesystem.write", J(new { path = "a.txt", content = "x" })).Kind);
        Assert.Equal("a.txt", ApprovalEffects.Of("filesystem.append", J(new { path = "a.txt", content = "x" })).Path);
        var run = ApprovalEffects.Of("process.run", J(new { command = "make", args = new[] { "test" }, working_directory = "/workspace/src" }));
        Assert.Equal(("make test", "/workspace/src"), (run.CommandLine, run.WorkingDirectory));
        var net = ApprovalEffects.Of("network.http_request", J(new { url = "https://api.example/x", method = "post" }));
        Assert.Equal(("POST", "https://api.example/x"), (net.Method, net.Url));
        Assert.Equal("call", ApprovalEffects.Of("system.time", J(new { })).Kind);
        Assert.Equal("command", ApprovalEffects.Of("process.run", J(new { command = 5 })).Kind);
    }
}
