using System.Collections.Frozen;
using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Network;

namespace KruxOS.Core.Policy;

/// <summary>Numbers the registered capabilities so each compiled file can index its rules by an array slot.</summary>
internal sealed class PolicyIndex
{
    private readonly FrozenDictionary<string, int> _byName;

    public PolicyIndex(CapabilityRegistry registry)
    {
        Names = [.. registry.All.Select(d => d.Name.Value)];
        _byName = Names.Select((n, i) => KeyValuePair.Create(n, i)).ToFrozenDictionary(StringComparer.Ordinal);
    }

    public ImmutableArray<string> Names { get; }
    public int Count => Names.Length;
    public string NameAt(int i) => Names[i];
    public int IndexOf(string name) => _byName.TryGetValue(name, out var i) ? i : -1;
}

/// <summary>
/// The compiled, immutable policy layers in force, with the revision that identifies them. A new set is
/// built on every change and swapped in whole by its owner; decisions only ever read it.
/// </summary>
public sealed class PolicySet
{
    internal PolicySet(
        PolicyIndex index, CompiledPolicyFile? system, CompiledPolicyFile? org,
        FrozenDictionary<string, CompiledPolicyFile> agents, CompiledPolicyFile? user, string revision,
        ImmutableArray<PolicyDiagnostic> warnings)
    {
        Index = index;
        System = system;
        Org = org;
        Agents = agents;
        User = user;
        Revision = revision;
        Warnings = warnings;
    }

    /// <summary>A set with no policy files: only the system protections and definition defaults apply.</summary>
    public static PolicySet Empty(CapabilityRegistry registry) =>
        new(new PolicyIndex(registry), null, null, FrozenDictionary<string, CompiledPolicyFile>.Empty, null,
            PolicyCompiler.Revision(new Dictionary<string, string>()), []);

    internal PolicyIndex Index { get; }

    /// <summary><c>system.yaml</c>, if present.</summary>
    public CompiledPolicyFile? System { get; }

    /// <summary><c>org.yaml</c>, if present.</summary>
    public CompiledPolicyFile? Org { get; }

    /// <summary><c>agents/&lt;name&gt;.yaml</c> by agent name.</summary>
    public FrozenDictionary<string, CompiledPolicyFile> Agents { get; }

    /// <summary><c>user.yaml</c>, if present.</summary>
    public CompiledPolicyFile? User { get; }

    /// <summary>Identifies the file contents this set was compiled from (SHA-256 prefix).</summary>
    public string Revision { get; }

    /// <summary>Warnings found while compiling.</summary>
    public ImmutableArray<PolicyDiagnostic> Warnings { get; }

    /// <summary>The file of the principal's own layer: the agent's file, or <c>user.yaml</c> for user tokens.</summary>
    public CompiledPolicyFile? PrincipalFile(Principal principal) =>
        principal.Kind == PrincipalKind.User ? User : Agents.GetValueOrDefault(principal.Name);

    /// <summary>
    /// The git remotes the principal may use: the <c>git.remotes</c> lists of <c>system.yaml</c>, <c>org.yaml</c>
    /// and the principal's own file, each a layer that must allow the remote (ADR 0012). No list: nothing allowed.
    /// </summary>
    public GitRemoteAllowlist GitRemotesFor(Principal principal)
    {
        var layers = ImmutableArray.CreateBuilder<ImmutableArray<string>>();
        foreach (var file in (ReadOnlySpan<CompiledPolicyFile?>)[System, Org, PrincipalFile(principal)])
            if (file?.GitRemotes is { } remotes) layers.Add(remotes);
        return layers.Count == 0 ? GitRemoteAllowlist.None : new GitRemoteAllowlist(layers.ToImmutable());
    }

    /// <summary>
    /// The egress allowlist of the principal: the <c>network</c> sections of <c>system.yaml</c>, <c>org.yaml</c> and
    /// the principal's own file, each a layer that must allow the destination (ADR 0034). No section: nothing allowed.
    /// </summary>
    public EgressAllowlist NetworkFor(Principal principal)
    {
        var layers = ImmutableArray.CreateBuilder<NetworkAllowlist>();
        foreach (var file in (ReadOnlySpan<CompiledPolicyFile?>)[System, Org, PrincipalFile(principal)])
            if (file?.Network is { } network) layers.Add(network);
        return layers.Count == 0 ? EgressAllowlist.None : new EgressAllowlist(layers.ToImmutable());
    }

    /// <summary>The layer of the principal's own file.</summary>
    public static PolicyLayer PrincipalLayer(Principal principal) =>
        principal.Kind == PrincipalKind.User ? PolicyLayer.User : PolicyLayer.Agent;
}
