using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;
using static KruxOS.Core.State.Session.SessionStateCommands;
using static KruxOS.Core.State.Session.SessionStateEvents;
using static KruxOS.Core.State.Session.SessionStateReplies;

namespace KruxOS.Core.State.Session;

/// <summary>Limits of one session's state.</summary>
/// <param name="QuotaBytes">Quota per session (<see cref="StateAccounting"/>; latest values only). Default 50 MiB.</param>
/// <param name="MaxValueBytes">Largest value. Default 1 MiB.</param>
/// <param name="MaxResultBytes">Largest <c>list</c> reply. Default 8 MiB.</param>
public sealed record SessionStateLimits(long QuotaBytes, int MaxValueBytes, long MaxResultBytes)
{
    /// <summary>50 MiB, 1 MiB values, 8 MiB replies.</summary>
    public static readonly SessionStateLimits Default = new(50 * StateAccounting.MiB, (int)StateAccounting.MiB, 8 * StateAccounting.MiB);

    /// <summary>How often the session's owner checkpoints a changed state: 30 s (spec §17).</summary>
    public static readonly TimeSpan CheckpointInterval = TimeSpan.FromSeconds(30);
}

/// <summary>Every message to a session's state names the agent and the session.</summary>
public interface ISessionStateMessage : IWithAgentName, IKruxMessage
{
    /// <summary>The MCP session.</summary>
    string SessionId { get; }
}

/// <summary>A change or a read of <c>state.session.*</c> (session state is in memory; every message goes through <see cref="SessionStateExtensions.ProcessCommand"/>).</summary>
public interface ISessionStateCommand : ISessionStateMessage;

/// <summary>The commands of <c>state.session.*</c>.</summary>
public static class SessionStateCommands
{
    /// <summary><c>state.session.get</c>.</summary>
    [WireName("state.session.get.v1")]
    public sealed record GetSessionValue(AgentName Agent, string SessionId, string Key) : ISessionStateCommand;

    /// <summary><c>state.session.set</c>.</summary>
    [WireName("state.session.set.v1")]
    public sealed record SetSessionValue(AgentName Agent, string SessionId, string Key, StoredJson Value) : ISessionStateCommand;

    /// <summary><c>state.session.delete</c>.</summary>
    [WireName("state.session.delete.v1")]
    public sealed record DeleteSessionValue(AgentName Agent, string SessionId, string Key) : ISessionStateCommand;

    /// <summary><c>state.session.list</c>.</summary>
    [WireName("state.session.list.v1")]
    public sealed record ListSessionKeys(AgentName Agent, string SessionId, string? Prefix = null) : ISessionStateCommand;

    /// <summary><c>state.session.clear</c>.</summary>
    [WireName("state.session.clear.v1")]
    public sealed record ClearSession(AgentName Agent, string SessionId) : ISessionStateCommand;
}

/// <summary>Events of a session's state (applied at once; the checkpoint, not a journal, makes them durable).</summary>
public interface ISessionStateEvent : IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>The events.</summary>
public static class SessionStateEvents
{
    /// <summary>A key was set.</summary>
    [WireName("state.session.value-set.v1")]
    public sealed record SessionValueSet(string Key, StoredJson Value, DateTimeOffset At) : ISessionStateEvent;

    /// <summary>A key was deleted.</summary>
    [WireName("state.session.value-deleted.v1")]
    public sealed record SessionValueDeleted(string Key, DateTimeOffset At) : ISessionStateEvent;

    /// <summary>Every key was removed.</summary>
    [WireName("state.session.cleared.v1")]
    public sealed record SessionCleared(DateTimeOffset At) : ISessionStateEvent;
}

/// <summary>Output records of <c>state.session.*</c> (spec §8.15, snake_case names).</summary>
public static class SessionStateReplies
{
    /// <summary><c>value (null if absent), found</c>.</summary>
    [WireName("state.session.get-result.v1")]
    public sealed record GetResult(StoredJson Value, bool Found) : IStateReply;

    /// <summary><c>previous_value, overwritten</c>.</summary>
    [WireName("state.session.set-result.v1")]
    public sealed record SetResult(StoredJson PreviousValue, bool Overwritten) : IStateReply;

    /// <summary><c>previous_value, deleted</c> (a missing key is not an error: <c>deleted</c> is false).</summary>
    [WireName("state.session.delete-result.v1")]
    public sealed record DeleteResult(StoredJson PreviousValue, bool Deleted) : IStateReply;

    /// <summary><c>keys[] (sorted, ordinal), count</c>.</summary>
    [WireName("state.session.list-result.v1")]
    public sealed record ListResult(ImmutableArray<string> Keys, int Count) : IStateReply;

    /// <summary><c>removed_count</c>.</summary>
    [WireName("state.session.clear-result.v1")]
    public sealed record ClearResult(int RemovedCount) : IStateReply;
}

/// <summary>One key of a session.</summary>
public sealed record SessionEntry(string Key, StoredJson Value, DateTimeOffset UpdatedAt)
{
    /// <summary>What it costs against the quota.</summary>
    public long Charge() => StateAccounting.KeyCharge(Key) + StateAccounting.ValueCharge(Value);
}

/// <summary>
/// A checkpoint of a session's state, written by the session's owner every
/// <see cref="SessionStateLimits.CheckpointInterval"/> when <see cref="SessionState.Revision"/> moved, so a
/// crash loses at most that window. It names its agent and session; restoring it anywhere else is refused.
/// </summary>
[WireName("state.session.checkpoint.v1")]
public sealed record SessionStateCheckpoint(AgentName Agent, string SessionId, long Revision, DateTimeOffset TakenAt, ImmutableArray<SessionEntry> Entries) : IKruxMessage;

/// <summary>
/// One MCP session's key-value map, in memory. Changed only through
/// <see cref="SessionStateExtensions.ProcessCommand"/> / <see cref="SessionStateExtensions.Apply"/>;
/// <see cref="Revision"/> counts changes so the owner checkpoints only when something changed.
/// </summary>
public sealed class SessionState
{
    internal SessionState(AgentName agent, string sessionId, ImmutableSortedDictionary<string, SessionEntry> entries, long usedBytes, long revision)
    {
        Agent = agent;
        SessionId = sessionId;
        Entries = entries;
        UsedBytes = usedBytes;
        Revision = revision;
    }

    /// <summary>The agent.</summary>
    public AgentName Agent { get; }

    /// <summary>The session.</summary>
    public string SessionId { get; }

    /// <summary>Keys, ordinal order.</summary>
    public ImmutableSortedDictionary<string, SessionEntry> Entries { get; }

    /// <summary>Bytes charged against the quota.</summary>
    public long UsedBytes { get; }

    /// <summary>Changes applied since the session started (carried over by checkpoints).</summary>
    public long Revision { get; }

    /// <summary>A new, empty session.</summary>
    public static SessionState Empty(AgentName agent, string sessionId)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        return new(agent, sessionId, ImmutableSortedDictionary.Create<string, SessionEntry>(StringComparer.Ordinal), 0, 0);
    }

    /// <summary>Whether a checkpoint taken at <paramref name="lastCheckpointRevision"/> is stale.</summary>
    public bool NeedsCheckpoint(long lastCheckpointRevision) => Revision != lastCheckpointRevision;

    /// <summary>The checkpoint of the current state.</summary>
    public SessionStateCheckpoint Checkpoint(DateTimeOffset now) => new(Agent, SessionId, Revision, now, [.. Entries.Values]);

    /// <summary>
    /// Restores a checkpoint for <paramref name="agent"/>'s session <paramref name="sessionId"/>. Refused (null,
    /// with the reason) when the checkpoint belongs to another agent or session, or holds an invalid key,
    /// a duplicate, a value over the limit or more than the quota — a checkpoint read back from disk is
    /// treated as untrusted input.
    /// </summary>
    public static SessionState? Restore(SessionStateCheckpoint checkpoint, AgentName agent, string sessionId, SessionStateLimits limits, out string reason)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        ArgumentNullException.ThrowIfNull(limits);
        if (checkpoint.Agent != agent || checkpoint.SessionId != sessionId)
        {
            reason = "the checkpoint belongs to another agent or session";
            return null;
        }
        var entries = ImmutableSortedDictionary.CreateBuilder<string, SessionEntry>(StringComparer.Ordinal);
        long used = 0;
        foreach (var e in checkpoint.Entries.IsDefault ? [] : checkpoint.Entries)
        {
            if (StateKeys.Validate(e.Key) is not null || e.Value.ByteCount > limits.MaxValueBytes || !entries.TryAdd(e.Key, e))
            {
                reason = "the checkpoint holds an invalid, oversized or duplicate key";
                return null;
            }
            used += e.Charge();
        }
        if (used > limits.QuotaBytes)
        {
            reason = "the checkpoint holds more than the session quota";
            return null;
        }
        reason = string.Empty;
        return new SessionState(agent, sessionId, entries.ToImmutable(), used, Math.Max(0, checkpoint.Revision));
    }
}

/// <summary>The pure functions of session state.</summary>
public static class SessionStateExtensions
{
    private const int ReplyEntryOverhead = 8;

    /// <summary>Decides a command: the reply and the events to apply (none for reads and refusals).</summary>
    public static (IStateReply Reply, ImmutableArray<ISessionStateEvent> Events) ProcessCommand(
        this SessionState state, ISessionStateCommand command, DateTimeOffset now, SessionStateLimits limits)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        if (command.Agent != state.Agent || command.SessionId != state.SessionId)
            return Refuse(StateErrors.SessionNotFound(command.SessionId));
        switch (command)
        {
            case GetSessionValue c:
                if (StateKeys.Validate(c.Key) is { } badGet) return Refuse(badGet);
                return state.Entries.TryGetValue(c.Key, out var found)
                    ? (new GetResult(found.Value, true), [])
                    : (new GetResult(StoredJson.Null, false), []);
            case SetSessionValue c:
            {
                if (StateKeys.Validate(c.Key) is { } bad) return Refuse(bad);
                if (c.Value.ByteCount > limits.MaxValueBytes)
                    return Refuse(Errors.Errors.InvalidInput("value", $"is larger than {limits.MaxValueBytes} bytes as canonical JSON"));
                state.Entries.TryGetValue(c.Key, out var current);
                var required = state.UsedBytes - (current?.Charge() ?? 0) + StateAccounting.KeyCharge(c.Key) + StateAccounting.ValueCharge(c.Value);
                if (required > limits.QuotaBytes && required > state.UsedBytes)
                    return Refuse(StateErrors.QuotaExceeded("session", limits.QuotaBytes, state.UsedBytes, required));
                return (new SetResult(current?.Value ?? StoredJson.Null, current is not null), [new SessionValueSet(c.Key, c.Value, now)]);
            }
            case DeleteSessionValue c:
                if (StateKeys.Validate(c.Key) is { } badDelete) return Refuse(badDelete);
                return state.Entries.TryGetValue(c.Key, out var gone)
                    ? (new DeleteResult(gone.Value, true), [new SessionValueDeleted(c.Key, now)])
                    : (new DeleteResult(StoredJson.Null, false), []);
            case ListSessionKeys c:
            {
                if (StateKeys.ValidatePrefix(c.Prefix) is { } bad) return Refuse(bad);
                var keys = state.Entries.Keys.Where(k => StateKeys.Matches(k, c.Prefix)).ToImmutableArray();
                var size = keys.Sum(k => (long)StateKeys.ByteCount(k) + ReplyEntryOverhead);
                if (size > limits.MaxResultBytes)
                    return Refuse(StateErrors.ResultTooLarge("state.session.list", limits.MaxResultBytes, size, "List with a longer prefix."));
                return (new ListResult(keys, keys.Length), []);
            }
            case ClearSession:
                return state.Entries.IsEmpty
                    ? (new ClearResult(0), [])
                    : (new ClearResult(state.Entries.Count), [new SessionCleared(now)]);
            default:
                return Refuse(Errors.Errors.InvalidInput("command", $"unknown command {command.GetType().Name}"));
        }
    }

    /// <summary>Applies an event; every applied event moves <see cref="SessionState.Revision"/>.</summary>
    public static SessionState Apply(this SessionState state, ISessionStateEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        switch (evt)
        {
            case SessionValueSet e:
            {
                state.Entries.TryGetValue(e.Key, out var before);
                var entry = new SessionEntry(e.Key, e.Value, e.At);
                return new SessionState(state.Agent, state.SessionId, state.Entries.SetItem(e.Key, entry),
                    state.UsedBytes - (before?.Charge() ?? 0) + entry.Charge(), state.Revision + 1);
            }
            case SessionValueDeleted e:
                return state.Entries.TryGetValue(e.Key, out var gone)
                    ? new SessionState(state.Agent, state.SessionId, state.Entries.Remove(e.Key), state.UsedBytes - gone.Charge(), state.Revision + 1)
                    : state;
            case SessionCleared:
                return new SessionState(state.Agent, state.SessionId, state.Entries.Clear(), 0, state.Revision + 1);
            default:
                return state;
        }
    }

    /// <summary>Applies events in order.</summary>
    public static SessionState ApplyAll(this SessionState state, IEnumerable<ISessionStateEvent> events) =>
        events.Aggregate(state, (s, e) => s.Apply(e));

    private static (IStateReply, ImmutableArray<ISessionStateEvent>) Refuse(Errors.StructuredError error) => (new StateRefused(error), []);
}
