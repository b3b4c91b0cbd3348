using System.Collections.Immutable;
using System.Text.Json;

namespace KruxOS.Core.Capabilities;

/// <summary>The declared type of a capability input (spec §8.2), including the semantic types.</summary>
public enum InputType
{
    String, Integer, Float, Number, Boolean, Object, Array, DateTime,
    FilesystemPath, Url, Sha256, GlobPattern, CronExpression, AgentId, SessionId, Signal,
    /// <summary>Any JSON value (object, array, string, number, boolean); state values.</summary>
    Json,
}

/// <summary>Spellings of <see cref="InputType"/> as spec §8.2 writes them.</summary>
public static class InputTypes
{
    /// <summary><c>URL</c> and <c>SHA256</c> in capitals; every other type as its name (<c>String</c>, <c>FilesystemPath</c>, …).</summary>
    public static string ToWire(this InputType type) => type switch
    {
        InputType.Url => "URL",
        InputType.Sha256 => "SHA256",
        _ => type.ToString(),
    };
}

/// <summary>Where a capability executes (spec §8.3).</summary>
public enum ExecutionMode
{
    /// <summary>Inside the gateway process, in the ToolRun actor (stateless, no OS side effects).</summary>
    InProcess,
    /// <summary>Inside the per-agent kernel sandbox.</summary>
    Sandboxed,
    /// <summary>In the gateway after an egress allowlist check.</summary>
    Network,
    /// <summary>Against gateway-owned state (state stores, broker, scheduler).</summary>
    GatewayState,
}

/// <summary>One declared input of a capability.</summary>
public sealed record InputDefinition(
    string Name,
    InputType Type,
    bool Required,
    string Description,
    JsonElement? Default = null,
    ImmutableArray<string> Allowed = default,
    double? Minimum = null,
    double? Maximum = null,
    long? MaxLength = null)
{
    /// <summary>
    /// The input names a secret the handler may resolve (<c>names_secret: true</c>; String inputs only). Handlers resolve a
    /// secret only through an input so marked.
    /// </summary>
    public bool NamesSecret { get; init; }
}

/// <summary>One declared output field of a capability.</summary>
public sealed record OutputDefinition(string Name, string Type, string Description);

/// <summary>One declared error of a capability, with at least one recovery action.</summary>
public sealed record ErrorDefinition(string Type, string Description, ImmutableArray<Errors.RecoveryAction> Recovery);

/// <summary>A change a capability makes outside its answer (spec §8.2), and whether it can be undone.</summary>
public sealed record SideEffectDefinition(string Description, bool Reversible);

/// <summary>A common way to use a capability (spec §8.2): what it achieves, and the steps (capability calls) in order.</summary>
public sealed record CommonPatternDefinition(string Description, ImmutableArray<string> Steps)
{
    /// <summary>Equality by content (the steps are compared item by item).</summary>
    public bool Equals(CommonPatternDefinition? other) =>
        other is not null && Description == other.Description && Steps.SequenceEqual(other.Steps);

    /// <inheritdoc />
    public override int GetHashCode() => Description.GetHashCode(StringComparison.Ordinal);
}

/// <summary>
/// The declarative definition of a capability (spec §8.2): the single source of the tool's
/// description, JSON input schema, argument validation and default tier.
/// </summary>
public sealed record CapabilityDefinition(
    CapabilityName Name,
    string Version,
    string Purpose,
    string WhenToUse,
    ImmutableArray<InputDefinition> Inputs,
    ImmutableArray<OutputDefinition> Outputs,
    ImmutableArray<ErrorDefinition> Errors,
    Tier DefaultTier,
    ImmutableArray<string> Tags,
    ExecutionMode Execution)
{
    /// <summary>The MCP tool name (<c>category__op</c>).</summary>
    public string ToolName => ToolNames.ToMcp(Name);

    /// <summary>What the capability changes besides its answer; empty for read-only capabilities.</summary>
    public ImmutableArray<SideEffectDefinition> SideEffects { get; init; } = [];

    /// <summary>Common ways to use it, each a short recipe of capability calls.</summary>
    public ImmutableArray<CommonPatternDefinition> CommonPatterns { get; init; } = [];

    /// <summary>
    /// The path inputs the capability writes, moves away or deletes (<c>written_paths</c>), checked against the system
    /// paths. Default (undeclared): a definition tagged <c>write</c> or <c>destructive</c> is taken to write every
    /// path input, which is what the loader requires such a definition to declare.
    /// </summary>
    public ImmutableArray<string> WrittenPaths { get; init; }

    /// <summary>How long a call may run (<c>max_duration_seconds</c> / <c>duration_input</c>); null: the gateway's default.</summary>
    public MaxDurationDefinition? MaxDuration { get; init; }

    /// <summary>The guards (<c>guards</c>) that check the call's arguments after the system protections, in order.</summary>
    public ImmutableArray<Policy.ICallGuard> Guards { get; init; } = [];

    /// <summary>Which remotes a sandboxed call may reach (<c>remote_access</c>).</summary>
    public RemoteAccess Remote { get; init; }

    /// <summary>How long a call with <paramref name="arguments"/> may run, from the definition's data; null: undeclared.</summary>
    public TimeSpan? MaxDurationFor(JsonElement arguments) => MaxDuration?.For(this, arguments);

    /// <summary>The path inputs a call writes: the declared ones, else (write or destructive tag) every path input.</summary>
    public IEnumerable<string> WrittenPathInputs()
    {
        if (!WrittenPaths.IsDefault) return WrittenPaths;
        return !Tags.IsDefault && (Tags.Contains("write") || Tags.Contains("destructive"))
            ? Inputs.Where(i => i.Type == InputType.FilesystemPath).Select(i => i.Name)
            : [];
    }
}
