using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Core.Tests.Policy;

/// <summary>Which path arguments a principal's policy decides on, so only those calls are resolved in the sandbox first (ADR 0023).</summary>
public sealed class DecidedPathArgumentSpecs
{
    private static readonly CapabilityRegistry Registry = new(DefinitionLoader.BuiltIn());

    private static PolicySet Compile(string agentYaml)
    {
        var result = PolicyCompiler.Compile(new Dictionary<string, string> { ["agents/bot.yaml"] = agentYaml }, Registry);
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
        return result.Set!;
    }

    private static KruxOS.Core.Agents.Principal Agent(string name) => KruxOS.Core.Agents.Principal.ForAgent(KruxOS.Core.Agents.AgentName.Parse(name));

    [Fact]
    public void Should_name_the_path_arguments_a_rule_of_the_principal_looks_at_and_nothing_else()
    {
        var set = Compile("rules:\n  - capability: \"filesystem.*\"\n    conditions: { path_prefix: /workspace/secret }\n    tier: blocked\n"
                          + "  - capability: filesystem.move\n    conditions: { argument: destination, matches: \"^/workspace/out\" }\n    tier: notify\n");
        Assert.True(Registry.TryResolve("filesystem.read", out var read));
        Assert.True(Registry.TryResolve("filesystem.move", out var move));
        Assert.True(Registry.TryResolve("system.time", out var time));
        Assert.Equal(["path"], PolicyEngine.DecidedPathArguments(Agent("bot"), read, set));
        // the move's own rule looks at destination; the prefix rule's default argument "path" is not one of its inputs
        Assert.Equal(["destination"], PolicyEngine.DecidedPathArguments(Agent("bot"), move, set));
        Assert.Empty(PolicyEngine.DecidedPathArguments(Agent("bot"), time, set));
        // another agent has no such rule: its calls are decided at once
        Assert.Empty(PolicyEngine.DecidedPathArguments(Agent("other"), read, set));
    }
}
