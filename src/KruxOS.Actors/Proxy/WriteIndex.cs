using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Proxy;

namespace KruxOS.Actors.Proxy;

/// <summary>Counts of one service's writes (status, dashboard, health).</summary>
/// <param name="Buffered">In their window.</param>
/// <param name="Executing">Executing or waiting for a retry.</param>
/// <param name="DeadLettered">Waiting for the operator.</param>
/// <param name="RollbackPoints">Done writes whose rollback point is still within its retention.</param>
public sealed record WriteCounts(int Buffered, int Executing, int DeadLettered, int RollbackPoints);

/// <summary>
/// The node's read model of buffered writes: every write's latest state, fed by the write entities after each persist
/// and rebuilt at start from the journal (a tag query). Listings, counts (<c>dead_letter_queue_depth</c>) and the wake-up
/// of due writes after a restart read it; nobody asks the entities. A state is taken only when its sequence number is
/// newer, so the replay and the live feed can interleave.
/// </summary>
public sealed class WriteIndex
{
    private readonly Lock _lock = new();
    private readonly Dictionary<WriteId, (BufferedWriteState State, long Seq)> _all = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _deadLetters;

    /// <summary>Completes once the journal has been replayed.</summary>
    public Task Ready => _ready.Task;

    /// <summary>True once the journal has been replayed.</summary>
    public bool IsReady => _ready.Task.IsCompleted;

    /// <summary>Marks the replay complete.</summary>
    public void MarkReady() => _ready.TrySetResult();

    /// <summary>Dead letters waiting for the operator (the health report's <c>dead_letter_queue_depth</c>).</summary>
    public int DeadLetterDepth => Volatile.Read(ref _deadLetters);

    /// <summary>Raised (outside the lock) after a write's state changed.</summary>
    public event Action<BufferedWriteState>? Changed;

    /// <summary>Records a write's state at a sequence number; older states are ignored.</summary>
    public void Publish(BufferedWriteState state, long sequenceNr)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Status == WriteStatus.None) return;
        lock (_lock)
        {
            if (_all.TryGetValue(state.Id, out var known) && known.Seq >= sequenceNr) return;
            _all[state.Id] = (state, sequenceNr);
            _deadLetters = _all.Values.Count(e => e.State.Status == WriteStatus.DeadLettered);
        }
        Changed?.Invoke(state);
    }

    /// <summary>One write, or null.</summary>
    public BufferedWriteState? Get(WriteId id)
    {
        lock (_lock) return _all.TryGetValue(id, out var e) ? e.State : null;
    }

    /// <summary>
    /// Writes, newest first, filtered by service, status and agent; at most <paramref name="limit"/>.
    /// </summary>
    public ImmutableArray<BufferedWriteState> List(ServiceName? service = null, IReadOnlyCollection<WriteStatus>? statuses = null, AgentName? agent = null,
        int limit = 500)
    {
        lock (_lock)
            return [.. _all.Values.Select(e => e.State)
                .Where(s => (service is null || s.Service == service) && (statuses is null || statuses.Contains(s.Status)) && (agent is null || s.Agent == agent))
                .OrderByDescending(s => s.BufferedAt).ThenBy(s => s.Id.Value, StringComparer.Ordinal)
                .Take(Math.Max(0, limit))];
    }

    /// <summary>Counts of <paramref name="service"/>'s writes at <paramref name="now"/>.</summary>
    public WriteCounts Counts(ServiceName service, DateTimeOffset now)
    {
        int buffered = 0, executing = 0, dead = 0, rollbacks = 0;
        lock (_lock)
            foreach (var (s, _) in _all.Values)
            {
                if (s.Service != service) continue;
                switch (s.Status)
                {
                    case WriteStatus.Buffered: buffered++; break;
                    case WriteStatus.Executing: executing++; break;
                    case WriteStatus.DeadLettered: dead++; break;
                }
                if (s.HasLiveRollback(now)) rollbacks++;
            }
        return new WriteCounts(buffered, executing, dead, rollbacks);
    }

    /// <summary>The ids of writes that must act now (window over, retry due, an attempt left open), and the next due time.</summary>
    public (ImmutableArray<WriteId> Due, DateTimeOffset? Next) Deadlines(DateTimeOffset now)
    {
        var due = ImmutableArray.CreateBuilder<WriteId>();
        DateTimeOffset? next = null;
        lock (_lock)
            foreach (var (s, _) in _all.Values)
            {
                if (s.Status == WriteStatus.Executing && s.AttemptOpen) { due.Add(s.Id); continue; }
                if (s.DueAt is not { } at) continue;
                if (at <= now) due.Add(s.Id);
                else if (next is null || at < next) next = at;
            }
        return (due.ToImmutable(), next);
    }

    /// <summary>Forgets finished writes older than <paramref name="before"/> (their journals stay); bounds the index's memory.</summary>
    public int Prune(DateTimeOffset before, DateTimeOffset now)
    {
        lock (_lock)
        {
            var old = _all.Where(e => e.Value.State.Status.IsFinal() && e.Value.State.FinishedAt is { } f && f < before && !e.Value.State.HasLiveRollback(now))
                .Select(e => e.Key).ToList();
            foreach (var id in old) _all.Remove(id);
            return old.Count;
        }
    }
}
