using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

/// <summary>git.remotes in policy files (ADR 0012): normalisation, layering and the git.clone decision.</summary>
public sealed class GitRemoteSpecs
{
    private static readonly CapabilityRegistry BuiltIn = new(DefinitionLoader.BuiltIn());

    private static PolicySet Set(params (string Path, string Yaml)[] files)
    {
        var result = PolicyCompiler.Compile(files.ToDictionary(f => f.Path, f => f.Yaml), BuiltIn);
        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Errors));
        return result.Set!;
    }

    private static Decision Clone(PolicySet set, string url, Principal? principal = null)
    {
        Assert.True(BuiltIn.TryResolve("git.clone", out var clone));
        return PolicyEngine.Decide(principal ?? Bot, clone, Args($$"""{"url":"{{url}}","path":"/workspace/c"}"""), set, RateState.Empty, T0).Decision;
    }

    private static string Remotes(params string[] entries) => "git:\n  remotes:\n" + string.Concat(entries.Select(e => $"    - \"{e}\"\n"));

    [Theory]
    [InlineData("/mnt/repos/a.git", "file:///mnt/repos/a.git")]
    [InlineData("file:///mnt//repos/./x/../a.git", "file:///mnt/repos/a.git")]
    [InlineData("git://LocalHost/team/a.git", "git://localhost:9418/team/a.git")]
    [InlineData("git://127.0.0.1:9000", "git://127.0.0.1:9000/")]
    [InlineData("git://[::1]:9000/a", "git://[::1]:9000/a")]
    public void Should_normalise_supported_remotes(string url, string expected)
    {
        Assert.True(GitRemotes.TryNormalize(url, out var normalized, out var error), error);
        Assert.Equal(expected, normalized);
    }

    [Theory]
    [InlineData("https://github.com/a/b.git")]
    [InlineData("ssh://git@host/a.git")]
    [InlineData("git@host:a/b.git")]
    [InlineData("ext::sh -c touch% /tmp/x")]
    [InlineData("git://user@host/a.git")]
    [InlineData("git://host:99999/a.git")]
    [InlineData("file:///../etc")]
    [InlineData("relative/path")]
    [InlineData("")]
    public void Should_refuse_unsupported_remotes(string url)
    {
        Assert.False(GitRemotes.TryNormalize(url, out _, out var error));
        Assert.NotEmpty(error);
    }

    [Theory]
    [InlineData("file:///mnt/repos", "file:///mnt/repos/a.git", true)]
    [InlineData("file:///mnt/repos/", "file:///mnt/repos/a.git", true)]
    [InlineData("file:///mnt/repos", "file:///mnt/repos-old/a.git", false)]
    [InlineData("git://127.0.0.1:9418/", "git://127.0.0.1:9418/any/repo.git", true)]
    [InlineData("git://127.0.0.1:9418/team", "git://127.0.0.1:9418/other.git", false)]
    [InlineData("git://127.0.0.1:9418/", "git://127.0.0.1:9419/a.git", false)]
    public void Should_cover_remotes_segment_by_segment(string entry, string url, bool covered) =>
        Assert.Equal(covered, GitRemotes.Covers(entry, url));

    [Fact]
    public void Should_refuse_every_clone_when_no_policy_declares_git_remotes()
    {
        var d = Clone(Set(("org.yaml", "defaults: { tier: autonomous }\n")), "file:///workspace/origin.git");
        Assert.Equal(Tier.Blocked, d.Tier);
        Assert.Equal("system:git_remote_not_allowed", d.RuleReference);
        Assert.Contains("deny by default", d.Reason);
    }

    [Fact]
    public void Should_allow_a_clone_the_agents_list_covers_and_refuse_others()
    {
        var set = Set(("org.yaml", "defaults: { tier: autonomous }\n"), ("agents/bot.yaml", Remotes("file:///mnt/repos", "git://127.0.0.1:9418/")));
        Assert.Equal(Tier.Autonomous, Clone(set, "/mnt/repos/a.git").Tier);
        Assert.Equal(Tier.Autonomous, Clone(set, "git://127.0.0.1/x.git").Tier);
        Assert.Equal(Tier.Blocked, Clone(set, "git://127.0.0.1:9419/x.git").Tier);
        Assert.Equal(Tier.Blocked, Clone(set, "file:///workspace/x.git").Tier);
        // another agent has no list of its own, so nothing is allowed for it
        Assert.Equal(Tier.Blocked, Clone(set, "/mnt/repos/a.git", Other).Tier);
        Assert.Equal(Tier.Blocked, Clone(set, "https://example.org/a.git").Tier);
    }

    [Fact]
    public void Should_require_every_declaring_layer_to_allow_the_remote()
    {
        var set = Set(("org.yaml", "defaults: { tier: autonomous }\n" + Remotes("file:///mnt/")), ("agents/bot.yaml", Remotes("file:///mnt/repos", "git://127.0.0.1:9418/")));
        Assert.Equal(Tier.Autonomous, Clone(set, "/mnt/repos/a.git").Tier);
        // the agent lists the daemon, but the org's list does not: the most restrictive layer wins
        Assert.Equal(Tier.Blocked, Clone(set, "git://127.0.0.1:9418/a.git").Tier);
        var allowlist = set.GitRemotesFor(Bot);
        Assert.Equal(2, allowlist.Layers.Length);
        Assert.False(allowlist.Allows("git://127.0.0.1:9418/a.git"));
        Assert.True(allowlist.Allows("file:///mnt/repos/b"));
    }

    [Fact]
    public void Should_treat_an_empty_list_as_allowing_nothing()
    {
        var set = Set(("org.yaml", "defaults: { tier: autonomous }\ngit: { remotes: [] }\n"), ("agents/bot.yaml", Remotes("file:///mnt/repos")));
        Assert.Equal(Tier.Blocked, Clone(set, "/mnt/repos/a.git").Tier);
    }

    [Fact]
    public void Should_reject_a_policy_file_with_an_unsupported_remote_with_its_line()
    {
        var result = PolicyCompiler.Compile(new Dictionary<string, string> { ["agents/bot.yaml"] = Remotes("file:///mnt/ok", "https://github.com/x.git") }, BuiltIn);
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors);
        Assert.Equal(DiagnosticCodes.InvalidValue, error.Code);
        Assert.Equal(4, error.Location.Line);
        Assert.Contains("only file://", error.Message);
    }
}
