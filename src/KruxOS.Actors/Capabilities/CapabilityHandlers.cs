using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Capabilities;

/// <summary>What a session knows about itself when a call starts; handed to the ToolRun as data.</summary>
public sealed record SessionSnapshot(
    AgentName Agent,
    string SessionId,
    DateTimeOffset ConnectedAt,
    long InvocationCount,
    ClientInfo Client);

/// <summary>
/// Everything an executing capability may know about its call. <c>PathsDecided</c>: the call's path arguments are the
/// canonical paths its policy decision was made on (<see cref="IPathResolvingHandler"/>); the sandbox opens exactly
/// those and fails closed if one no longer resolves to itself.
/// </summary>
public sealed record InvocationContext(
    Principal Principal,
    SessionSnapshot Session,
    AgentRecord? Agent,
    CapabilityDefinition Capability,
    DateTimeOffset Now,
    CapabilityRegistry Registry,
    IPolicySeam Policy,
    bool PathsDecided = false);

/// <summary>
/// The outcome of resolving a call's path arguments: the arguments with each resolved path in place of the one given,
/// or the error that stops the call (e.g. <c>PathOutOfScope</c>, with <paramref name="PathEscape"/> set).
/// </summary>
public sealed record PathResolution(JsonElement? Arguments, StructuredError? Error, bool PathEscape = false);

/// <summary>
/// A handler whose capability opens files in the agent's sandbox: it can tell, before the decision, which paths the call
/// would really open (symbolic links resolved inside the sandbox), so the policy decides on those (ADR 0023).
/// </summary>
public interface IPathResolvingHandler
{
    /// <summary>
    /// Resolves the path arguments <paramref name="names"/> of <paramref name="arguments"/> (validated and normalized) in
    /// <paramref name="agent"/>'s sandbox. Never throws for a failure: it is the result's error.
    /// </summary>
    Task<PathResolution> ResolvePathsAsync(AgentName agent, JsonElement arguments, IReadOnlyList<string> names, CancellationToken cancellationToken);
}

/// <summary>
/// A capability failure with its structured error; thrown by handlers, caught by the ToolRun.
/// <paramref name="usage"/> is what the failed call consumed, when the handler measured it (audited).
/// </summary>
public sealed class CapabilityException(StructuredError error, AuditResourceUsage? usage = null) : Exception(error.Message)
{
    /// <summary>The error to report to the caller.</summary>
    public StructuredError Error { get; } = error;

    /// <summary>Resources the failed call consumed, when measured.</summary>
    public AuditResourceUsage? Usage { get; } = usage;
}

/// <summary>
/// What a handler returns: the capability's output and, when the handler measured it, what the call consumed
/// (<c>resource_usage</c> of its audit entry). A <see cref="JsonElement"/> converts to an output without usage,
/// which is what in-process capabilities report: their wall time is the entry's <c>duration_ms</c>.
/// </summary>
/// <param name="Data">The output object returned to the caller.</param>
/// <param name="Usage">CPU time, memory peak and I/O of the call; null when not measured.</param>
public readonly record struct CapabilityOutput(JsonElement Data, AuditResourceUsage? Usage = null)
{
    /// <summary>An output without measured usage.</summary>
    public static implicit operator CapabilityOutput(JsonElement data) => new(data);
}

/// <summary>
/// Executes one capability. Handlers are stateless singletons; all per-call data arrives in the
/// <see cref="InvocationContext"/> and the validated, normalized arguments.
/// </summary>
public interface ICapabilityHandler
{
    /// <summary>The capability this handler executes.</summary>
    CapabilityName Name { get; }

    /// <summary>Runs the call; throws <see cref="CapabilityException"/> for declared errors.</summary>
    ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken);

    /// <summary>
    /// How long this call may legitimately run (e.g. a <c>process.run</c> with its own timeout); the run's
    /// deadline is the larger of this and the gateway's default. <see cref="TimeSpan.Zero"/>: the default.
    /// </summary>
    TimeSpan MaxDuration(JsonElement arguments) => TimeSpan.Zero;
}

/// <summary>
/// The capabilities this node can execute: the built-in definitions that have a handler. A definition
/// without a handler is never offered, so everything listed really runs.
/// </summary>
public sealed class CapabilityCatalog
{
    private readonly FrozenDictionary<string, ICapabilityHandler> _handlers;

    public CapabilityCatalog(IEnumerable<CapabilityDefinition> definitions, IEnumerable<ICapabilityHandler> handlers)
    {
        var byName = new Dictionary<string, ICapabilityHandler>(StringComparer.Ordinal);
        foreach (var h in handlers)
            if (!byName.TryAdd(h.Name.Value, h)) throw new ArgumentException($"two handlers for '{h.Name}'", nameof(handlers));
        var defs = definitions.ToDictionary(d => d.Name.Value, StringComparer.Ordinal);
        foreach (var name in byName.Keys)
            if (!defs.ContainsKey(name)) throw new ArgumentException($"handler for '{name}' has no definition", nameof(handlers));
        _handlers = byName.ToFrozenDictionary(StringComparer.Ordinal);
        Registry = new CapabilityRegistry(defs.Values.Where(d => byName.ContainsKey(d.Name.Value)));
    }

    /// <summary>The offered capabilities.</summary>
    public CapabilityRegistry Registry { get; }

    /// <summary>The handler of an offered capability.</summary>
    public ICapabilityHandler HandlerFor(CapabilityName name) => _handlers[name.Value];

    /// <summary>Serializes an anonymous or typed result object into a standalone element.</summary>
    public static JsonElement ToElement<T>(T value) => JsonSerializer.SerializeToElement(value, KruxOS.Core.CoreJson.Options);
}

