using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Core.Tests.Policy;

/// <summary>A small capability catalogue and helpers shared by the policy specs.</summary>
internal static class PolicyTestKit
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);
    public static readonly Principal Bot = Principal.ForAgent(AgentName.Parse("bot"));
    public static readonly Principal Other = Principal.ForAgent(AgentName.Parse("other"));
    public static readonly Principal Operator = Principal.ForUser("laptop");

    // The protection data (written paths, guards, duration, remote access) of a shipped definition of the same name
    // travels with a test definition, as the name tables it replaced applied to any definition of that name.
    public static CapabilityDefinition Def(string name, Tier tier, params (string Name, InputType Type)[] inputs)
    {
        var def = new CapabilityDefinition(CapabilityName.Parse(name), "1.0", $"test capability {name}", "use it instead of nothing",
            [.. inputs.Select(i => new InputDefinition(i.Name, i.Type, false, i.Name))], [], [], tier, [], ExecutionMode.Sandboxed);
        return DefinitionLoader.BuiltIn().FirstOrDefault(d => d.Name.Value == name) is { } shipped
            ? def with { WrittenPaths = shipped.WrittenPaths, Guards = shipped.Guards, MaxDuration = shipped.MaxDuration, Remote = shipped.Remote }
            : def;
    }

    public static readonly ImmutableArray<CapabilityDefinition> Definitions =
    [
        Def("filesystem.read", Tier.Autonomous, ("path", InputType.FilesystemPath)),
        Def("filesystem.write", Tier.Notify, ("path", InputType.FilesystemPath), ("content", InputType.String), ("encoding", InputType.String)),
        Def("filesystem.delete", Tier.ApprovalRequired, ("path", InputType.FilesystemPath)),
        Def("filesystem.list", Tier.Autonomous, ("path", InputType.FilesystemPath)),
        Def("filesystem.move", Tier.Notify, ("source", InputType.FilesystemPath), ("destination", InputType.FilesystemPath)),
        Def("process.run", Tier.Notify, ("command", InputType.String), ("args", InputType.Array), ("working_directory", InputType.String), ("stdin", InputType.String)),
        Def("state.shared.set", Tier.Notify, ("key", InputType.String), ("value", InputType.Object), ("expected_version", InputType.Integer)),
        Def("state.shared.get", Tier.Autonomous, ("key", InputType.String)),
        Def("state.session.get", Tier.Autonomous, ("key", InputType.String)),
        Def("git.push", Tier.ApprovalRequired, ("path", InputType.FilesystemPath)),
        Def("network.http_request", Tier.Notify, ("url", InputType.Url), ("method", InputType.String)),
        Def("email.bulk_delete", Tier.ApprovalRequired, ("query", InputType.String)),
        Def("agent.whoami", Tier.Autonomous),
        Def("system.time", Tier.Autonomous, ("timezone", InputType.String)),
    ];

    public static readonly CapabilityRegistry Registry = new(Definitions);

    public static CapabilityDefinition Cap(string name) =>
        Registry.TryResolve(name, out var d) ? d : Def(name, Tier.Autonomous, ("agent", InputType.String));

    public static JsonElement Args(string json = "{}") => JsonDocument.Parse(json).RootElement.Clone();

    public static PolicySet Compile(params (string Path, string Yaml)[] files)
    {
        var result = PolicyCompiler.Compile(files.ToDictionary(f => f.Path, f => f.Yaml), Registry);
        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Errors));
        return result.Set!;
    }

    public static PolicyCompileResult TryCompile(params (string Path, string Yaml)[] files) =>
        PolicyCompiler.Compile(files.ToDictionary(f => f.Path, f => f.Yaml), Registry);

    public static Decision Decide(PolicySet set, string capability, string args = "{}", Principal? principal = null) =>
        PolicyEngine.Decide(principal ?? Bot, Cap(capability), Args(args), set, RateState.Empty, T0).Decision;
}
