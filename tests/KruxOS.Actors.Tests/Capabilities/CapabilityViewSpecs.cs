using System.Collections.Immutable;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Tests.Support;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Actors.Tests.Capabilities;

/// <summary>
/// The one "visible to this principal" view answers exactly what the listings computed on their own before it existed
/// (MCP <c>VisibleTiers</c>/<c>ToolsFor</c>, <c>/rpc</c> <c>capabilities.list</c>, <c>agent.capabilities</c>): the
/// expected values below are those loops, written out.
/// </summary>
public sealed class CapabilityViewSpecs
{
    private static readonly CapabilityRegistry Registry = new(DefinitionLoader.BuiltIn());
    private static readonly Principal Bot = Principal.ForAgent(AgentName.Parse("bot"));
    private static readonly Principal Other = Principal.ForAgent(AgentName.Parse("other"));

    private const string BotPolicy =
        "rules:\n  - capability: system.info\n    tier: blocked\n    reason: bots do not read host facts\n" +
        "  - capability: filesystem.*\n    tier: approval_required\n" +
        "  - capability: git.push\n    tier: blocked\n";

    public static TheoryData<string> Policies => ["fixed", "compiled"];

    private static IPolicySeam Policy(string kind) => kind switch
    {
        "fixed" => new FixedPolicy(new Dictionary<string, Tier>
        {
            ["system.info"] = Tier.Blocked, ["process.run"] = Tier.ApprovalRequired, ["agent.whoami"] = Tier.Notify,
        }),
        _ => new PolicyStore(Registry, Compile(("agents/bot.yaml", BotPolicy))),
    };

    private static PolicySet Compile(params (string Path, string Yaml)[] files)
    {
        var result = PolicyCompiler.Compile(files.ToDictionary(f => f.Path, f => f.Yaml), Registry);
        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Errors));
        return result.Set!;
    }

    // The loops the view replaces, as they were written in the MCP view, /rpc and agent.capabilities.
    private static ImmutableArray<Tier> OldVisibleTiers(IPolicySeam policy, Principal principal) =>
        [.. Registry.All.Select(d => policy.VisibleTier(principal, d))];

    private static List<(string Name, Tier Tier)> OldToolsFor(IPolicySeam policy, Principal principal, string? category = null)
    {
        var list = new List<(string, Tier)>();
        foreach (var d in Registry.All)
        {
            if (category is not null && d.Name.Category != category) continue;
            var tier = policy.VisibleTier(principal, d);
            if (tier == Tier.Blocked) continue;
            list.Add((d.Name.Value, tier));
        }
        return list;
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void Should_list_what_the_old_loops_listed_for_every_principal_and_category(string kind)
    {
        // arrange
        var policy = Policy(kind);
        var view = new CapabilityView(Registry, policy);

        foreach (var principal in new[] { Bot, Other })
        {
            // act
            var all = view.Visible(principal);
            var tiers = view.Tiers(principal);

            // assert
            Assert.Equal(OldToolsFor(policy, principal), all.Select(v => (v.Definition.Name.Value, v.Tier)).ToList());
            Assert.Equal(OldVisibleTiers(policy, principal), tiers);
            foreach (var category in Registry.Categories.Append("nosuch"))
                Assert.Equal(OldToolsFor(policy, principal, category),
                    view.Visible(principal, category).Select(v => (v.Definition.Name.Value, v.Tier)).ToList());
        }
    }

    [Fact]
    public void Should_hide_a_blocked_capability_from_the_principal_it_is_blocked_for_only()
    {
        // arrange
        var view = new CapabilityView(Registry, Policy("compiled"));

        // act
        var botSees = view.Visible(Bot).Select(v => v.Definition.Name.Value).ToList();
        var otherSees = view.Visible(Other).Select(v => v.Definition.Name.Value).ToList();

        // assert
        Assert.DoesNotContain("system.info", botSees);
        Assert.Contains("system.info", otherSees);
        Assert.Equal(Tier.Blocked, view.Tiers(Bot)[Registry.All.IndexOf(Registry.All.Single(d => d.Name.Value == "system.info"))]);
        Assert.False(view.TryFind(Bot, "system.info", out _));
        Assert.False(view.TryFind(Bot, "system__info", out _));
        Assert.True(view.TryFind(Other, "system__info", out var found));
        Assert.Equal("system.info", found.Definition.Name.Value);
        Assert.Equal(view.VisibleTier(Other, found.Definition), found.Tier);
    }

    [Fact]
    public void Should_not_find_an_unknown_or_missing_name()
    {
        // arrange
        var view = new CapabilityView(Registry, Policy("compiled"));

        // act + assert
        Assert.False(view.TryFind(Other, "nosuch.capability", out _));
        Assert.False(view.TryFind(Other, null, out _));
        Assert.False(view.TryFind(Other, "", out _));
    }

    [Fact]
    public void Should_report_the_tier_the_policy_shows_for_a_found_capability()
    {
        // arrange
        var view = new CapabilityView(Registry, Policy("compiled"));

        // act
        var found = view.TryFind(Bot, "filesystem.read", out var read);

        // assert
        Assert.True(found);
        Assert.Equal(Tier.ApprovalRequired, read.Tier);
        Assert.Equal(Tier.ApprovalRequired, view.Visible(Bot, "filesystem").Single(v => v.Definition.Name.Value == "filesystem.read").Tier);
    }

    [Fact]
    public void Should_report_the_effective_policy_and_git_remotes_of_the_seam()
    {
        // arrange
        var store = new PolicyStore(Registry, Compile(("agents/bot.yaml", BotPolicy)));
        var view = new CapabilityView(Registry, store);

        // act
        var effective = view.Effective(Bot);

        // assert
        Assert.Equal(store.Effective(Bot, Registry), effective);
        Assert.Equal(store.GitRemotes(Bot), view.GitRemotes(Bot));
    }
}
