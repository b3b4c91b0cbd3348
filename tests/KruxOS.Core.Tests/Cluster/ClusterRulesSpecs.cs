using KruxOS.Core.Cluster;
using Xunit;

namespace KruxOS.Core.Tests.Cluster;

public sealed class ClusterRulesSpecs
{
    private const string System = "kruxos";

    [Theory]
    [InlineData("10.0.0.1:7710", "10.0.0.1", 7710)]
    [InlineData(" node-b.example:7711 ", "node-b.example", 7711)]
    [InlineData("[fd00::2]:7710", "fd00::2", 7710)]
    [InlineData("akka.tcp://kruxos@10.0.0.3:7712", "10.0.0.3", 7712)]
    public void Should_read_a_seed_node_in_each_accepted_form(string text, string host, int port)
    {
        Assert.True(ClusterAddresses.TryParseSeed(text, System, out var endpoint, out var error), error);
        Assert.Equal(new NodeEndpoint(host, port), endpoint);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("10.0.0.1", "not host:port")]
    [InlineData("10.0.0.1:0", "no valid port")]
    [InlineData("10.0.0.1:70000", "no valid port")]
    [InlineData("10.0.0.1:77x", "no valid port")]
    [InlineData("0.0.0.0:7710", "wildcard")]
    [InlineData("akka.tcp://other@10.0.0.1:7710", "must be host:port")]
    [InlineData("a b:7710", "not a host name")]
    [InlineData("fd00::2:7710", "not host:port")]
    public void Should_refuse_a_malformed_seed_node_with_a_sentence_naming_it(string text, string why)
    {
        Assert.False(ClusterAddresses.TryParseSeed(text, System, out _, out var error));
        Assert.Contains(why, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_drop_repeated_seeds_and_report_the_first_bad_one()
    {
        var (seeds, error) = ClusterAddresses.ParseSeeds(["a:1", "a:1", "b:2"], System);
        Assert.Null(error);
        Assert.Equal([new NodeEndpoint("a", 1), new NodeEndpoint("b", 2)], seeds);
        var (none, bad) = ClusterAddresses.ParseSeeds(["a:1", "b", "c:x"], System);
        Assert.Empty(none);
        Assert.Contains("'b'", bad, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_let_a_node_form_a_cluster_only_on_a_free_lease_or_one_its_own_incarnation_already_wrote()
    {
        const string self = "akka.tcp://kruxos@a:1#7";
        Assert.True(ClusterLeaseRules.MayForm(new ClusterLeaseRow("", 0, 0, 1_000), self));
        Assert.True(ClusterLeaseRules.MayForm(new ClusterLeaseRow("akka.tcp://kruxos@a:1#1", 999, 4, 1_000), self));
        // a live holder — even this node's own previous incarnation (another uid) — means a cluster may be using the journal
        Assert.False(ClusterLeaseRules.MayForm(new ClusterLeaseRow("akka.tcp://kruxos@a:1#1", 1_001, 4, 1_000), self));
        Assert.False(ClusterLeaseRules.MayForm(new ClusterLeaseRow("akka.tcp://kruxos@b:2#7", 1_001, 4, 1_000), self));
        // this incarnation's own write landed although its answer was lost: it holds the lease and forms
        Assert.True(ClusterLeaseRules.MayForm(new ClusterLeaseRow(self, 1_001, 5, 1_000), self));
    }

    [Fact]
    public void Should_let_the_oldest_member_renew_or_take_over_within_its_cluster_and_call_any_other_live_holder_foreign()
    {
        var self = "akka.tcp://kruxos@a:1#1";
        var seen = new HashSet<string>(StringComparer.Ordinal) { self, "akka.tcp://kruxos@b:2#7" };
        Assert.Equal(ClusterLeaseVerdict.Take, ClusterLeaseRules.ForOldest(new ClusterLeaseRow(self, 5_000, 3, 1_000), self, seen));
        Assert.Equal(ClusterLeaseVerdict.Take, ClusterLeaseRules.ForOldest(new ClusterLeaseRow("akka.tcp://kruxos@b:2#7", 5_000, 3, 1_000), self, seen));
        Assert.Equal(ClusterLeaseVerdict.Take, ClusterLeaseRules.ForOldest(new ClusterLeaseRow("akka.tcp://kruxos@z:9#9", 500, 3, 1_000), self, seen));
        Assert.Equal(ClusterLeaseVerdict.Foreign, ClusterLeaseRules.ForOldest(new ClusterLeaseRow("akka.tcp://kruxos@z:9#9", 5_000, 3, 1_000), self, seen));
        // the same address with another uid is another incarnation: a node its cluster never had
        Assert.Equal(ClusterLeaseVerdict.Foreign, ClusterLeaseRules.ForOldest(new ClusterLeaseRow("akka.tcp://kruxos@b:2#8", 5_000, 3, 1_000), self, seen));
    }
}
