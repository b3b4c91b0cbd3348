using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.ToolRuns;

/// <summary>
/// Everything a ToolRun needs, decided by the session before the run starts: either a refusal found
/// at the boundary (unknown capability, invalid input), or the resolved capability with its
/// normalized arguments and policy verdict. <c>PathsDecided</c>: the path arguments were resolved in the sandbox and
/// decided on as resolved; the run executes exactly those (ADR 0023). <c>DecideStarted</c> / <c>DecideEnded</c>: when the
/// session began and finished planning the call (<see cref="System.Diagnostics.Stopwatch"/> ticks; the <c>decide</c> stage
/// of the call's telemetry, which starts there).
/// </summary>
public sealed record ToolRunPlan(
    ToolCall Call,
    SessionSnapshot Session,
    IActorRef ReplyTo,
    CapabilityDefinition? Capability,
    JsonElement Arguments,
    PolicyVerdict? Verdict,
    StructuredError? BoundaryError,
    ApprovalPlan? Approval = null,
    Agents.KeyedCall? Keyed = null,
    bool PathsDecided = false,
    long DecideStarted = 0,
    long DecideEnded = 0);

/// <summary>
/// What every run of one session works with, built once by the session and handed to each run it starts.
/// </summary>
/// <param name="Catalog">The capability catalogue (definitions and handlers).</param>
/// <param name="Policy">The policy seam a handler may read (visible capabilities, the effective policy, git remotes).</param>
/// <param name="Identities">The node's identity directory (the agent record a handler may read).</param>
/// <param name="Audit">The node's audit writer.</param>
/// <param name="Settings">Execution and audit timeouts.</param>
/// <param name="Clock">The clock runs are stamped with.</param>
/// <param name="AuditAvailability">The audit writer's state, checked before anything executes (none: only the append's answer counts).</param>
public sealed record ToolRunCollaborators(CapabilityCatalog Catalog, IPolicySeam Policy, Identity.IdentityDirectory Identities, IActorRef Audit,
    ToolRunSettings Settings, TimeProvider Clock, Audit.AuditAvailability? AuditAvailability)
{
    /// <summary>The read-only policy view handlers get, made once with the collaborators (once per session), not per run.</summary>
    public Capabilities.CapabilityView View { get; } = new(Catalog.Registry, Policy);
}

/// <summary>
/// Tells the session which approval the run waits on (<paramref name="Approval"/>), or that it left the hold to execute
/// (null): a run cut off while bound to an approval has run nothing, and its caller is answered <c>ApprovalReattach</c>.
/// </summary>
public sealed record RunHoldChanged(KruxOS.Core.Approvals.ApprovalId? Approval);

/// <summary>Tells the session a run has ended.</summary>
public sealed record ToolRunFinished(string Capability, bool Succeeded, long DurationMicros);

/// <summary>Settings of the execution stage.</summary>
/// <param name="ExecutionTimeout">Longest an in-process capability may run before the call fails with <c>Timeout</c>.</param>
/// <param name="AuditTimeout">Longest the run waits for the audit seam before failing closed.</param>
public sealed record ToolRunSettings(TimeSpan ExecutionTimeout, TimeSpan AuditTimeout)
{
    public static readonly ToolRunSettings Default = new(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));
}

/// <summary>
/// How a call that needs approval is bound to its approval, decided by the session: the approval this run
/// created (<paramref name="IsNew"/>: the session has already sent its request, so nothing that joins it
/// later can overtake it) or the one it joins (a pending request or an unused grant of the identical call).
/// </summary>
/// <param name="Id">The approval id.</param>
/// <param name="ArgumentsHash">Canonical hash of the normalized arguments.</param>
/// <param name="IsNew">True when the request was created for this run.</param>
/// <param name="Region">The approval region.</param>
/// <param name="HoldTimeout">The hold deadline of a new request, from now.</param>
/// <param name="Reattach">A call re-attached to <paramref name="Id"/> (a keyed call held on it before a restart, or a call naming it,
/// ADR 0058): it joins exactly that approval and takes its outcome (a new request only if that approval was never recorded).</param>
public sealed record ApprovalPlan(KruxOS.Core.Approvals.ApprovalId Id, string ArgumentsHash, bool IsNew, IActorRef Region, TimeSpan HoldTimeout,
    bool Reattach = false);

/// <summary>
/// Asks the session which approval the run should wait on now, because the one it tried to join
/// (<paramref name="Closed"/>) turned out closed or never recorded. Only the session creates approvals,
/// so identical calls can never each create one.
/// </summary>
public sealed record ApprovalNeeded(ToolRunPlan Plan, KruxOS.Core.Approvals.ApprovalId Closed);

/// <summary>The session's answer to <see cref="ApprovalNeeded"/>.</summary>
public sealed record ApprovalAssigned(ApprovalPlan Approval);

/// <summary>Tells the session the run no longer waits on its approval.</summary>
public sealed record ApprovalSettled(string Capability, string ArgumentsHash, KruxOS.Core.Approvals.ApprovalId Id);
