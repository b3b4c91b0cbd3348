using System.Collections.Immutable;
using System.Text.Json;

namespace KruxOS.Core.Capabilities;

/// <summary>The declared type of a capability input (spec §8.2), including the semantic types.</summary>
public enum InputType
{
    String, Integer, Float, Number, Boolean, Object, Array, DateTime,
    FilesystemPath, Url, Sha256, GlobPattern, CronExpression, AgentId, SessionId, Signal,
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
    long? MaxLength = null);

/// <summary>One declared output field of a capability.</summary>
public sealed record OutputDefinition(string Name, string Type, string Description);

/// <summary>One declared error of a capability, with at least one recovery action.</summary>
public sealed record ErrorDefinition(string Type, string Description, ImmutableArray<Errors.RecoveryAction> Recovery);

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
}
