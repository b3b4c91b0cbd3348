using System.Collections.Immutable;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Core.Tests.Policy;

/// <summary>The cluster's policy ledger decisions (ADR 0059): compare-and-set on the generation, strictly newer only, safe paths.</summary>
public sealed class PolicyLedgerSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static ImmutableSortedDictionary<string, string> Files(params (string Path, string Text)[] files) =>
        ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, files.Select(f => KeyValuePair.Create(f.Path, f.Text)));

    private static PolicyLedgerCommands.Propose Propose(long basedOn, params (string Path, string Text)[] files) => new(basedOn, Files(files), "akka.tcp://kruxos@10.0.0.11:7710");

    [Fact]
    public void Should_number_accepted_revisions_one_after_another()
    {
        var (reply1, e1) = PolicyLedger.Decide(ClusterPolicyRevision.None, Propose(0, ("org.yaml", "rules: []\n")), Now);
        var g1 = Assert.IsType<PolicyLedgerReplies.Accepted>(reply1).Current;
        var (reply2, e2) = PolicyLedger.Decide(g1, Propose(1, ("org.yaml", "rules: []\n"), ("agents/bot.yaml", "rules: []\n")), Now);

        Assert.NotNull(e1);
        Assert.NotNull(e2);
        Assert.Equal(1, g1.Generation);
        Assert.Equal(2, Assert.IsType<PolicyLedgerReplies.Accepted>(reply2).Current.Generation);
        Assert.Equal(PolicyLedger.Apply(g1, e2!), ((PolicyLedgerReplies.Accepted)reply2).Current);
    }

    [Fact]
    public void Should_refuse_an_edit_made_on_an_older_generation_and_accept_the_same_files_again_without_a_new_generation()
    {
        var g1 = ((PolicyLedgerReplies.Accepted)PolicyLedger.Decide(ClusterPolicyRevision.None, Propose(0, ("org.yaml", "a: 1\n")), Now).Reply).Current;
        var g2 = ((PolicyLedgerReplies.Accepted)PolicyLedger.Decide(g1, Propose(1, ("org.yaml", "a: 2\n")), Now).Reply).Current;

        var (stale, none) = PolicyLedger.Decide(g2, Propose(1, ("org.yaml", "a: 3\n")), Now);
        var (same, nothing) = PolicyLedger.Decide(g2, Propose(1, ("org.yaml", "a: 2\n")), Now);

        var refused = Assert.IsType<PolicyLedgerReplies.Refused>(stale);
        Assert.True(refused.Stale);
        Assert.Equal(g2, refused.Current);
        Assert.Null(none);
        Assert.Equal(g2, Assert.IsType<PolicyLedgerReplies.Accepted>(same).Current);
        Assert.Null(nothing);
    }

    [Theory]
    [InlineData("../org.yaml")]
    [InlineData("/etc/org.yaml")]
    [InlineData("./org.yaml")]
    [InlineData("agents/../../x.yaml")]
    [InlineData("agents/a/b.yaml")]
    [InlineData("agents\\bot.yaml")]
    [InlineData("org.yaml.bak-1")]
    [InlineData("foo.yaml")]
    [InlineData("agents/default.yaml")]
    [InlineData("")]
    public void Should_refuse_a_revision_with_a_path_that_is_not_exactly_a_policy_location(string path)
    {
        var (reply, e) = PolicyLedger.Decide(ClusterPolicyRevision.None, Propose(0, (path, "rules: []\n")), Now);

        Assert.False(PolicyLedger.IsMirrorablePath(path));
        Assert.False(Assert.IsType<PolicyLedgerReplies.Refused>(reply).Stale);
        Assert.Null(e);
    }

    [Theory]
    [InlineData("org.yaml")]
    [InlineData("system.yml")]
    [InlineData("user.yaml")]
    [InlineData("agents/bot-1.yaml")]
    public void Should_accept_every_policy_location(string path) => Assert.True(PolicyLedger.IsMirrorablePath(path));

    [Fact]
    public void Should_refuse_files_larger_than_the_limit_together()
    {
        var big = new string('x', PolicyLedger.MaxTotalBytes / 2 + 1);
        Assert.NotNull(PolicyLedger.FilesError(Files(("org.yaml", big), ("system.yaml", big))));
    }

    [Fact]
    public void Should_only_supersede_with_a_strictly_newer_generation()
    {
        var g3 = ClusterPolicyRevision.None with { Generation = 3 };
        Assert.True(PolicyLedger.Supersedes(g3, 2));
        Assert.False(PolicyLedger.Supersedes(g3, 3));
        Assert.False(PolicyLedger.Supersedes(g3, 4));
    }
}
