using System.Text;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

/// <summary>
/// Property-style checks over many random rule sets (seeded, so failures reproduce) of ADR 0005: an explicit rule
/// (or a protection) is a floor that adding a lower layer never loosens, while the capability definition's tier is
/// only a default, which a lower layer's rule may relax.
/// </summary>
public sealed class LayeringPropertySpecs
{
    private static readonly string[] Patterns =
        ["filesystem.read", "filesystem.write", "filesystem.delete", "filesystem.*", "process.run", "state.*", "state.shared.*",
         "state.shared.set", "git.push", "network.*", "system.time", "agent.*", "*"];

    private static readonly string[] TierNames = ["autonomous", "notify", "approval", "require_approval", "approval_required", "blocked"];

    private static readonly string[] Conditions =
        ["{ path_prefix: /workspace/tmp }", "{ content_size_lt: 10 }", "{ content_size_gte: 10 }", "{ argument: key, matches: '^scratch/' }",
         "{ argument: command, equals: [ls, make] }", "{ path_glob: '**/*.md' }"];

    private static readonly (string Capability, string Args)[] Calls =
    [
        ("filesystem.read", """{"path":"/workspace/tmp/a.md"}"""),
        ("filesystem.read", """{"path":"/home/x"}"""),
        ("filesystem.write", """{"path":"tmp/a","content":"short"}"""),
        ("filesystem.write", """{"path":"/workspace/src/a.md","content":"a much longer content"}"""),
        ("filesystem.write", """{"path":"/etc/passwd","content":"x"}"""),
        ("filesystem.delete", """{"path":"/workspace/tmp/x"}"""),
        ("process.run", """{"command":"ls"}"""),
        ("process.run", """{"command":"rm","args":["-rf","/"]}"""),
        ("state.shared.set", """{"key":"scratch/a","value":{},"expected_version":0}"""),
        ("state.shared.set", """{"key":"cfg","value":{},"expected_version":0}"""),
        ("state.shared.get", """{"key":"cfg"}"""),
        ("git.push", """{"path":"/workspace/repo"}"""),
        ("network.http_request", """{"url":"https://example.com","method":"GET"}"""),
        ("system.time", "{}"),
        ("agent.whoami", "{}"),
        ("secrets.read_raw", "{}"),
    ];

    private static string RandomFile(Random random)
    {
        var sb = new StringBuilder();
        if (random.Next(4) == 0) sb.Append("defaults: { tier: ").Append(TierNames[random.Next(TierNames.Length)]).Append(" }\n");
        sb.Append("rules:\n");
        var count = random.Next(0, 8);
        for (var i = 0; i < count; i++)
        {
            sb.Append("  - capability: \"").Append(Patterns[random.Next(Patterns.Length)]).Append("\"\n");
            sb.Append("    tier: ").Append(TierNames[random.Next(TierNames.Length)]).Append('\n');
            if (random.Next(3) == 0) sb.Append("    conditions: ").Append(Conditions[random.Next(Conditions.Length)]).Append('\n');
        }
        return sb.ToString();
    }

    private static PolicySet Set(params (string Path, string? Yaml)[] files)
    {
        var dict = files.Where(f => f.Yaml is not null).ToDictionary(f => f.Path, f => f.Yaml!);
        var result = PolicyCompiler.Compile(dict, Registry);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Set!;
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    public void Should_never_loosen_an_outer_decision_when_a_lower_layer_is_added(int seed)
    {
        var random = new Random(seed);
        var checkedDecisions = 0;
        var relaxedDefaults = 0;
        for (var round = 0; round < 60; round++)
        {
            var system = random.Next(3) == 0 ? null : RandomFile(random);
            var org = random.Next(4) == 0 ? null : RandomFile(random);
            var agent = RandomFile(random);
            var principal = random.Next(2) == 0 ? Bot : Operator;
            var ownPath = principal == Bot ? "agents/bot.yaml" : "user.yaml";

            var systemOnly = Set(("system.yaml", system));
            var withOrg = Set(("system.yaml", system), ("org.yaml", org));
            var withAll = Set(("system.yaml", system), ("org.yaml", org), (ownPath, agent));

            foreach (var (capability, args) in Calls)
            {
                var outer = Decide(systemOnly, capability, args, principal);
                var middle = Decide(withOrg, capability, args, principal);
                var inner = Decide(withAll, capability, args, principal);
                AssertNotLoosened(outer, middle, $"seed {seed} round {round} {capability} {args} adding org:\n{org}");
                AssertNotLoosened(middle, inner, $"seed {seed} round {round} {capability} {args} adding {ownPath}:\n{agent}");
                checkedDecisions++;
                if ((outer.IsDefault && middle.Tier < outer.Tier) || (middle.IsDefault && inner.Tier < middle.Tier)) relaxedDefaults++;
            }
        }
        Assert.Equal(60 * Calls.Length, checkedDecisions);
        // The exemption for definition defaults is exercised, not vacuous: lower layers did relax some.
        Assert.True(relaxedDefaults > 0, $"seed {seed}: no lower layer relaxed a definition default");
    }

    private static void AssertNotLoosened(Decision before, Decision after, string context)
    {
        // The definition default may be relaxed by a lower layer (ADR 0005); anything a rule or protection decided may not.
        if (before.IsDefault) return;
        Assert.True(after.Tier >= before.Tier, $"{before.Tier} ({before.RuleReference}) loosened to {after.Tier} ({after.RuleReference}); {context}");
        if (before.DecidingLayer == PolicyLayer.Protection)
            Assert.Equal(before.RuleReference, after.RuleReference);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Should_give_every_layer_a_floor_equal_to_its_own_matching_rule(int seed)
    {
        // Whatever the other layers say, the final tier is at least the tier of each layer's first matching rule.
        var random = new Random(seed);
        for (var round = 0; round < 60; round++)
        {
            var files = new (string, string?)[] { ("system.yaml", RandomFile(random)), ("org.yaml", RandomFile(random)), ("agents/bot.yaml", RandomFile(random)) };
            var all = Set(files);
            foreach (var (capability, args) in Calls)
            {
                var combined = Decide(all, capability, args);
                foreach (var single in files)
                {
                    var alone = Decide(Set(single), capability, args);
                    if (!alone.IsDefault)
                        Assert.True(combined.Tier >= alone.Tier, $"seed {seed} round {round} {capability}: {single.Item1} alone gives {alone.Tier}, combined {combined.Tier}");
                }
            }
        }
    }

    [Fact]
    public void Should_let_a_lower_layer_relax_a_bare_definition_default_but_not_an_outer_rule_that_restates_it()
    {
        // filesystem.delete is approval_required by definition
        const string args = """{"path":"/workspace/a"}""";
        const string relax = "rules:\n  - capability: filesystem.delete\n    tier: autonomous\n";
        const string restate = "rules:\n  - capability: filesystem.delete\n    tier: approval_required\n";
        Assert.Equal(Tier.ApprovalRequired, Decide(Set(), "filesystem.delete", args).Tier);

        // the definition tier is a default: an agent (or org) rule may set a looser tier
        Assert.Equal(Tier.Autonomous, Decide(Set(("agents/bot.yaml", relax)), "filesystem.delete", args).Tier);
        Assert.Equal(Tier.Notify, Decide(Set(("org.yaml", PolicyTemplates.Get("personal-permissive"))), "filesystem.delete", args).Tier);

        // an explicit rule in a higher layer is a floor, even when it only restates the definition's tier
        var floor = Decide(Set(("org.yaml", restate), ("agents/bot.yaml", relax)), "filesystem.delete", args);
        Assert.Equal(Tier.ApprovalRequired, floor.Tier);
        Assert.Equal("org.yaml:2", floor.RuleReference);
        Assert.Equal(Tier.ApprovalRequired, Decide(Set(("system.yaml", restate), ("org.yaml", relax)), "filesystem.delete", args).Tier);
    }

    [Fact]
    public void Should_detect_a_loosening_if_one_happened()
    {
        // Guards the property check itself: a loosened pair must be reported.
        var strict = Decide(Set(("org.yaml", "rules:\n  - capability: git.push\n    tier: blocked\n")), "git.push", """{"path":"/workspace/r"}""");
        var loose = Decide(Set(("org.yaml", "rules:\n  - capability: git.push\n    tier: notify\n")), "git.push", """{"path":"/workspace/r"}""");
        Assert.ThrowsAny<Exception>(() => AssertNotLoosened(strict, loose, "self-check"));
        Assert.Equal(Tier.Blocked, strict.Tier);
    }
}
