using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Sandbox;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>
/// Executes one sandboxed capability (filesystem, process, git) in the calling agent's kernel sandbox.
/// The ToolRun owns the deadline and cancellation; every sandbox failure comes back as the structured
/// error the sandbox reported (PathOutOfScope, ResourceExhausted, SandboxUnavailable, …).
/// </summary>
/// <remarks>
/// A successful call that changed the workspace (write, edit, append, delete, move, copy, restore) is recorded in the node's
/// <see cref="KruxOS.Actors.State.BriefingFeeds"/> for <c>state.briefing.generate</c>, from the validated arguments and the
/// sandbox's answer (ADR 0057).
/// </remarks>
public sealed class SandboxedCapabilityHandler(CapabilityDefinition definition, ISandbox sandbox, TimeSpan defaultDuration,
    KruxOS.Actors.State.BriefingFeeds? feeds = null) : ICapabilityHandler, IPathResolvingHandler
{
    /// <summary>Slack on top of the sandbox's own deadline, so the sandbox answers before the ToolRun gives up.</summary>
    public static readonly TimeSpan Margin = TimeSpan.FromSeconds(15);

    /// <inheritdoc />
    public CapabilityName Name { get; } = Bound(definition, sandbox);

    /// <inheritdoc />
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var caller = context.Principal.Kind == PrincipalKind.User ? CallerKind.User : CallerKind.Agent;
        // Remotes come from the policy in force when the call runs (after any approval wait), not when it was decided.
        var remotes = definition.Remote == RemoteAccess.Git ? context.Policy.GitRemotes(context.Principal) : null;
        // A walk under a path rule is decided entry by entry too (ADR 0028), on the policy in force when the entry is reached.
        var walk = KruxOS.Core.Policy.WalkPolicy.ShapeOf(Name.Value, arguments) is not null
            && context.Policy.DecidedPathArguments(context.Principal, context.Capability).Length > 0
            ? Guard(context, arguments.Clone())
            : null;
        var result = await sandbox.ExecuteAsync(new SandboxRequest(context.Session.Agent, Name, arguments, definition.MaxDurationFor(arguments), caller, remotes, context.PathsDecided, walk),
            cancellationToken).ConfigureAwait(false);
        var usage = ToAudit(result.Usage);
        if (!result.IsSuccess) throw new CapabilityException(result.Error!, usage);
        var data = result.Data ?? KruxOS.Core.CoreJson.EmptyObject;
        if (feeds is not null
            && KruxOS.Core.State.Briefings.BriefingFeedRules.FileChangeOf(Name.Value, arguments, data, feeds.Clock.GetUtcNow()) is { } change)
            feeds.RecordFileChange(context.Session.Agent, change);
        return new CapabilityOutput(data, usage);
    }

    // Fails closed: an entry whose decision throws is held back.
    private static WalkGuard Guard(InvocationContext context, JsonElement arguments) => (argument, path) =>
    {
        try { return context.Policy.DecideWalkEntry(context.Principal, context.Capability, arguments, argument, path, DateTimeOffset.UtcNow); }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            return KruxOS.Core.Errors.Errors.Internal($"'{path}' could not be decided: {e.Message}");
        }
    };

    /// <inheritdoc />
    public Task<PathResolution> ResolvePathsAsync(AgentName agent, JsonElement arguments, IReadOnlyList<string> names, CancellationToken cancellationToken) =>
        sandbox.ResolveArgumentPathsAsync(agent, Name, arguments, names, cancellationToken);

    // The sandbox must execute the definition it is bound to; anything else is a wiring error found at start-up.
    private static CapabilityName Bound(CapabilityDefinition definition, ISandbox sandbox)
    {
        ArgumentNullException.ThrowIfNull(definition);
        ArgumentNullException.ThrowIfNull(sandbox);
        return sandbox.Handles(definition.Name) ? definition.Name : throw new InvalidOperationException($"the sandbox does not execute '{definition.Name}'");
    }

    /// <summary>
    /// The audit view of what the sandbox measured: null when it measured nothing beyond wall time (a warm
    /// worker call reports only that, and it is the entry's <c>duration_ms</c>); otherwise each figure the
    /// mechanism did not report stays null.
    /// </summary>
    public static AuditResourceUsage? ToAudit(ResourceUsage? u) =>
        u is null || (u.CpuMs is null && u.MemoryPeakBytes is null && u.IoReadBytes is null && u.IoWriteBytes is null)
            ? null
            : new AuditResourceUsage(u.CpuMs, u.MemoryPeakBytes, u.IoReadBytes, u.IoWriteBytes);

    /// <inheritdoc />
    /// <remarks>
    /// The definition's duration (a <c>process.run</c> carries its own <c>timeout</c>; git calls 5 minutes), else the
    /// sandbox's default, plus <see cref="Margin"/> so the sandbox answers before the ToolRun gives up.
    /// </remarks>
    public TimeSpan MaxDuration(JsonElement arguments) => (definition.MaxDurationFor(arguments) ?? defaultDuration) + Margin;
}
