using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;

namespace KruxOS.Actors.Approvals;

/// <summary>
/// The node's read model of approvals: every approval's latest state, fed by the approval entities after
/// each persist and rebuilt at start from the journal (a tag query). Listing and lookups never ask the
/// entities. States are applied only when their sequence number is newer, so the replay at start and
/// the live feed can interleave. In a cluster the node's index actor also follows the shared journal live, so
/// every node sees every approval of the cluster (within the read journal's refresh interval).
/// </summary>
public sealed class ApprovalIndex
{
    private readonly object _lock = new();
    private readonly Dictionary<ApprovalId, (ApprovalState State, long Seq)> _all = [];
    private readonly Dictionary<(string Agent, string Capability, string Hash), ApprovalId> _open = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the journal has been replayed.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Marks the replay complete.</summary>
    public void MarkReady() => _ready.TrySetResult();

    /// <summary>Records an approval's state at a sequence number; older states are ignored.</summary>
    public void Publish(ApprovalState state, long sequenceNr)
    {
        if (state.Request is not { } r) return;
        lock (_lock)
        {
            if (_all.TryGetValue(r.Id, out var known) && known.Seq >= sequenceNr) return;
            _all[r.Id] = (state, sequenceNr);
            var key = (r.Agent.Value, r.Capability, r.ArgumentsHash);
            if (state.IsOpen) _open[key] = r.Id;
            else if (_open.TryGetValue(key, out var id) && id == r.Id) _open.Remove(key);
        }
    }

    /// <summary>One approval's state, or null.</summary>
    public ApprovalState? Get(ApprovalId id)
    {
        lock (_lock) return _all.TryGetValue(id, out var e) ? e.State : null;
    }

    /// <summary>
    /// The approval's state once it is no longer <paramref name="before"/>, or after <paramref name="timeout"/> whatever it is.
    /// A decision persisted by an entity on another node is normally read from the journal at once
    /// (<see cref="ApprovalIndexActor.RereadApproval"/>); only when that read fails does its reply wait here for the live feed.
    /// </summary>
    public async Task<ApprovalState?> AfterChangeAsync(ApprovalId id, ApprovalStatus before, TimeSpan timeout, CancellationToken ct)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var state = Get(id);
            if (state is null || state.Status != before || DateTime.UtcNow >= deadline) return state;
            await Task.Delay(25, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Approvals, oldest request first, optionally of one status.</summary>
    public IReadOnlyList<ApprovalState> List(ApprovalStatus? status = null)
    {
        List<ApprovalState> list;
        lock (_lock) list = [.. _all.Values.Select(e => e.State).Where(s => status is null || s.Status == status)];
        list.Sort((a, b) => a.Request!.RequestedAt.CompareTo(b.Request!.RequestedAt));
        return list;
    }

    /// <summary>Number of pending approvals.</summary>
    public int PendingCount
    {
        get { lock (_lock) return _all.Values.Count(e => e.State.Status == ApprovalStatus.Pending); }
    }

    /// <summary>The open approval (pending, or an unused grant) of the identical call, if any.</summary>
    public ApprovalId? FindOpen(AgentName agent, string capability, string argumentsHash)
    {
        lock (_lock) return _open.TryGetValue((agent.Value, capability, argumentsHash), out var id) ? id : null;
    }

    /// <summary>Open approvals whose deadline (hold or grant) is at or before <paramref name="now"/>, and the next deadline after it.</summary>
    public (IReadOnlyList<ApprovalId> Due, DateTimeOffset? Next) Deadlines(DateTimeOffset now)
    {
        var due = new List<ApprovalId>();
        DateTimeOffset? next = null;
        lock (_lock)
        {
            foreach (var id in _open.Values)
            {
                if (_all[id].State.NextDeadline is not { } d) continue;
                if (d <= now) due.Add(id);
                else if (next is null || d < next) next = d;
            }
        }
        return (due, next);
    }
}
