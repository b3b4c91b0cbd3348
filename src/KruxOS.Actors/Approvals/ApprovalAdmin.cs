using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Core.Admin;
using KruxOS.Core.Approvals;
using KruxOS.Core.Identity;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Approvals;

/// <summary>An approval as of <paramref name="AsOf"/> (its age is measured from then).</summary>
public sealed record ApprovalView(ApprovalState State, DateTimeOffset AsOf);

/// <summary>
/// The approval queue for every adapter: listing, one approval, and decisions. A decision travels with its
/// <see cref="ApprovalDecider"/> — the authenticated identity the adapter vouches for (the control socket's peer uid, the
/// User API's credential, the dashboard's session) — to the approval entity, which applies separation of duties
/// (<see cref="ApprovalSeparation"/>) atomically with the decision; this service is the only sender of decisions, so
/// every adapter gets the same refusal, the same typed error and the same warning.
/// </summary>
public sealed partial class ApprovalAdmin(IRequiredActor<ApprovalRegion> approvals, IRequiredActor<ApprovalIndexActor> indexActor, ApprovalIndex index,
    TimeProvider clock, ILogger<ApprovalAdmin> log)
{
    /// <summary>The longest reason a decision may carry.</summary>
    public const int MaxReasonLength = 1000;

    /// <summary>Approvals with <paramref name="status"/> (<c>pending</c> when null, every approval for <c>all</c>).</summary>
    public async Task<AdminResult<IReadOnlyList<ApprovalView>>> ListAsync(string? status, CancellationToken ct)
    {
        if (!await IndexLoadedAsync(ct).ConfigureAwait(false)) return IndexLoading;
        ApprovalStatus? filter = ApprovalStatus.Pending;
        if (status is not null)
        {
            if (status == "all") filter = null;
            else if (ApprovalStatusExtensions.TryParse(status, out var parsed)) filter = parsed;
            else return AdminErrors.InvalidInput($"unknown status '{status}'");
        }
        var now = clock.GetUtcNow();
        return AdminResult<IReadOnlyList<ApprovalView>>.Ok([.. index.List(filter).Select(a => new ApprovalView(a, now))]);
    }

    /// <summary>One approval by id.</summary>
    public async Task<AdminResult<ApprovalView>> ShowAsync(string? id, CancellationToken ct)
    {
        if (!await IndexLoadedAsync(ct).ConfigureAwait(false)) return IndexLoading;
        if (!ApprovalId.TryParse(id, out var approvalId)) return AdminErrors.NotFound($"approval '{id}' not found");
        var (state, unreadable) = await FindAsync(approvalId, ct).ConfigureAwait(false);
        if (state is null) return unreadable ?? AdminErrors.NotFound($"approval '{id}' not found");
        return new ApprovalView(state, clock.GetUtcNow());
    }

    /// <summary>
    /// Approves or rejects <paramref name="id"/> as <paramref name="decider"/>. The entity refuses a decider that may not
    /// decide it (a client credential, or the principal that requested the call): <see cref="AdminErrorKind.Forbidden"/>.
    /// </summary>
    public Task<AdminResult<ApprovalView>> DecideAsync(string? id, bool approve, ApprovalDecider decider, string reason, CancellationToken ct) =>
        AdminCalls.Guarded<ApprovalView>(async () =>
        {
            if (!await IndexLoadedAsync(ct).ConfigureAwait(false)) return IndexLoading;
            // Unknown ids are answered from the index and the journal, so a typo never starts an entity.
            if (!ApprovalId.TryParse(id, out var approvalId)) return AdminErrors.NotFound($"approval '{id}' not found");
            var (before, unreadable) = await FindAsync(approvalId, ct).ConfigureAwait(false);
            if (before is null) return unreadable ?? AdminErrors.NotFound($"approval '{id}' not found");
            if (reason.Length > MaxReasonLength) return AdminErrors.InvalidInput($"reason is longer than {MaxReasonLength} characters");
            var region = await approvals.GetAsync(ct).ConfigureAwait(false);
            var result = await region.Ask<ApprovalResult>(new ApprovalCommands.Decide(approvalId, approve, decider, reason, clock.GetUtcNow()), AdminCalls.EdgeTimeout, ct)
                .ConfigureAwait(false);
            if (result.IsOk)
                return new ApprovalView(await DecidedStateAsync(approvalId, before.Status, ct).ConfigureAwait(false) ?? before, clock.GetUtcNow());
            if (result.Code == ApprovalResultCode.Forbidden)
                LogForbiddenDecision(approvalId.Value, decider.DecidedBy, decider.Role.ToWire(), decider.Surface.ToWire(), result.Message);
            var (kind, code) = result.Code switch
            {
                ApprovalResultCode.NotFound => (AdminErrorKind.NotFound, "NotFound"),
                ApprovalResultCode.Conflict => (AdminErrorKind.Conflict, "Conflict"),
                ApprovalResultCode.Forbidden => (AdminErrorKind.Forbidden, "Forbidden"),
                _ => (AdminErrorKind.InvalidInput, "invalid_input"),
            };
            return new AdminError(kind, code, result.Message) { ReportsStatus = true, Status = result.Status?.ToWire() };
        });

    /// <summary>
    /// How long a decision's reply waits for the decided state to reach this node's index through the cluster's live feed,
    /// when reading it from the journal at once failed.
    /// </summary>
    public static readonly TimeSpan DecisionVisibleTimeout = TimeSpan.FromSeconds(10);

    /// <summary>How long a decision's reply waits for its approval's events to be read from the journal.</summary>
    public static readonly TimeSpan RereadTimeout = TimeSpan.FromSeconds(5);

    // The state after a decision the entity answered as durable. An entity on this node has put it into the index before
    // answering; one on another node has not, so the index actor reads the approval's events from the journal now instead
    // of this reply waiting for the live feed (about a second per decision). Only if that read fails does it wait for the feed.
    private async Task<ApprovalState?> DecidedStateAsync(ApprovalId id, ApprovalStatus before, CancellationToken ct)
    {
        if (index.Get(id) is { } known && known.Status != before) return known;
        try
        {
            var keeper = await indexActor.GetAsync(ct).ConfigureAwait(false);
            var reread = await keeper.Ask<ApprovalIndexActor.Reread>(new ApprovalIndexActor.RereadApproval(id), RereadTimeout, ct).ConfigureAwait(false);
            if (reread.State is { } state && state.Status != before) return state;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Never turn a durable decision into an error: the live feed brings the state shortly.
            LogRereadFailed(id.Value, ex.Message);
        }
        return await index.AfterChangeAsync(id, before, DecisionVisibleTimeout, ct).ConfigureAwait(false);
    }

    // An approval this node's index knows; else one requested through another node a moment ago that the live feed has not
    // brought here yet (in a cluster it trails the journal by its poll, longer under load): read from the journal now, which
    // also puts it into the index. Absent from both: unknown. A journal that cannot be read is a retryable refusal, never "unknown".
    private async Task<(ApprovalState? State, AdminError? Unreadable)> FindAsync(ApprovalId id, CancellationToken ct)
    {
        if (index.Get(id) is { } known) return (known, null);
        try
        {
            var keeper = await indexActor.GetAsync(ct).ConfigureAwait(false);
            var reread = await keeper.Ask<ApprovalIndexActor.Reread>(new ApprovalIndexActor.RereadApproval(id), RereadTimeout, ct).ConfigureAwait(false);
            return (reread.State is { Request: not null } state ? state : null, null);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogLookupFailed(id.Value, ex.Message);
            return (null, AdminErrors.Unavailable("the approval could not be looked up in the journal; retry shortly"));
        }
    }

    private static readonly AdminError IndexLoading = AdminErrors.Unavailable("the approval queue is still loading after a restart; retry shortly");

    // After a restart the index replays the journal; until then a listing would be partial and a known id
    // would look unknown, so approval operations wait for it (and fail closed if it does not finish in time).
    private async Task<bool> IndexLoadedAsync(CancellationToken ct)
    {
        try
        {
            await index.Ready.WaitAsync(AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading decided approval {ApprovalId} from the journal failed ({Reason}); waiting for the live feed")]
    private partial void LogRereadFailed(string approvalId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Looking up approval {ApprovalId} in the journal failed ({Reason})")]
    private partial void LogLookupFailed(string approvalId, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a decision on approval {ApprovalId} by {DecidedBy} (role {Role}, {Surface}): {Reason}")]
    private partial void LogForbiddenDecision(string approvalId, string decidedBy, string role, string surface, string reason);
}
