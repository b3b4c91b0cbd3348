using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Approvals;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Sessions;

/// <summary>
/// Idempotency keys of <c>tools/call</c> (spec §13, issue 9): a client (mcp-bridge) gives every call a
/// unique key and re-sends an unanswered call with the same key after a reconnect; the agent's session
/// answers the re-sent call from its record instead of running it again. See ADR 0010.
/// </summary>
public static class IdempotencyKeys
{
    /// <summary>Where the key travels in an MCP <c>tools/call</c>: <c>params._meta["kruxos/idempotency_key"]</c>.</summary>
    public const string MetaField = "kruxos/idempotency_key";

    /// <summary>Shortest accepted key; random keys are much longer, short ones collide.</summary>
    public const int MinLength = 8;

    /// <summary>Longest accepted key.</summary>
    public const int MaxLength = 128;

    /// <summary>
    /// Checks a key at the boundary: <see cref="MinLength"/>–<see cref="MaxLength"/> characters of
    /// <c>[A-Za-z0-9._:-]</c>. Returns null when valid, otherwise an <c>InvalidInput</c> error naming the field.
    /// </summary>
    public static StructuredError? Validate(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        if (key.Length is < MinLength or > MaxLength)
            return Errors.Errors.InvalidInput("_meta." + MetaField, $"must be {MinLength} to {MaxLength} characters long");
        foreach (var c in key)
            if (c is not ((>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or ':' or '-'))
                return Errors.Errors.InvalidInput("_meta." + MetaField, "may contain only letters, digits and . _ : -");
        return null;
    }

    /// <summary>
    /// What a key is bound to: the tool name as requested and the canonical hash of the raw arguments. A
    /// key re-sent with another fingerprint is refused (<see cref="KeyReused"/>).
    /// </summary>
    public static string Fingerprint(string requestedName, JsonElement arguments) =>
        requestedName + "|" + ApprovalArguments.Hash(arguments);

    /// <summary>The key was already used for a different call.</summary>
    public static StructuredError KeyReused(string key) =>
        StructuredError.Create("IdempotencyKeyReused",
                "This idempotency key was already used for a different call (other tool or arguments); the call was not run.")
            .WithRecovery("new_key", "Send each distinct call with its own new idempotency key.")
            .WithContext("idempotency_key", key);

    /// <summary>The call with this key started before a gateway restart and no outcome was recorded.</summary>
    public static StructuredError OutcomeUnknown(string key, string capability) =>
        StructuredError.Create("OutcomeUnknown",
                $"'{capability}' was started before the gateway restarted and its outcome was not recorded; it may or may not have taken effect. It was not run again.")
            .WithRecovery("check_state", "Check whether the action took effect (e.g. read the file or list the resource) before doing it again.")
            .WithRecovery("new_key", "To run it again deliberately, send it as a new call (a new idempotency key).")
            .WithContext("idempotency_key", key).WithContext("capability", capability);

    /// <summary>The call ran, but its result was too large to keep for a replay.</summary>
    public static StructuredError OutcomeNotRetained(string key, string capability, bool succeeded) =>
        StructuredError.Create("OutcomeNotRetained",
                $"'{capability}' already ran ({(succeeded ? "it succeeded" : "it failed")}), but its result was too large to keep for a re-sent call; it was not run again.")
            .WithRecovery("read_back", "Read the result back with a read capability (e.g. offset/limit) instead of re-running the call.")
            .WithContext("idempotency_key", key).WithContext("capability", capability).WithContext("succeeded", succeeded);

    /// <summary>Too many keys are in flight for this agent to track another one.</summary>
    public static StructuredError LedgerFull(int max) =>
        StructuredError.Create("ServiceUnavailable",
                $"Service 'idempotency' is unavailable: this agent already has {max} keyed calls in flight or held; the call was not run.", retryable: true)
            .RetryAfter(5)
            .WithRecovery("retry_later", "Wait for calls in flight to finish, then send the call again with the same key.")
            .WithContext("service", "idempotency").WithContext("limit", max);
}

/// <summary>Where a keyed call stands.</summary>
public enum IdempotencyStatus
{
    /// <summary>Admitted and (in the incarnation that admitted it) running or about to run.</summary>
    Running,
    /// <summary>Held for human approval on <see cref="IdempotencyEntry.ApprovalId"/>.</summary>
    Held,
    /// <summary>Answered; the outcome is recorded.</summary>
    Completed,
    /// <summary>Cut off by a restart before an outcome was recorded; answered with <c>OutcomeUnknown</c> from now on.</summary>
    Interrupted,
}

/// <summary>The record of one key.</summary>
/// <param name="Key">The idempotency key.</param>
/// <param name="Fingerprint">What the key is bound to (<see cref="IdempotencyKeys.Fingerprint"/>).</param>
/// <param name="Capability">The tool name as requested (for messages).</param>
/// <param name="Status">Where the call stands.</param>
/// <param name="At">When the key was first seen (the retention window counts from here).</param>
/// <param name="ApprovalId">The approval the call is (or was) held on.</param>
/// <param name="Outcome">The recorded answer (<see cref="IdempotencyStatus.Completed"/>), unless it was too large to keep.</param>
/// <param name="Succeeded">Whether the recorded answer was a success.</param>
[WireName("idempotency.entry.v1")]
public sealed record IdempotencyEntry(
    string Key,
    string Fingerprint,
    string Capability,
    IdempotencyStatus Status,
    DateTimeOffset At,
    ApprovalId? ApprovalId = null,
    ToolCallResult? Outcome = null,
    bool Succeeded = false) : IKruxMessage
{
    /// <summary>Terminal entries may be evicted to make room; running and held ones may not.</summary>
    public bool IsTerminal => Status is IdempotencyStatus.Completed or IdempotencyStatus.Interrupted;
}

/// <summary>Events of an agent's idempotency ledger (persistence id <c>idempotency-{agent}</c>).</summary>
public interface IIdempotencyEvent : IKruxMessage
{
    /// <summary>The key the event is about.</summary>
    string Key { get; }

    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>The ledger's events.</summary>
public static class IdempotencyEvents
{
    /// <summary>A new key was admitted; the call is about to run.</summary>
    [WireName("idempotency.key-started.v1")]
    public sealed record KeyStarted(string Key, string Fingerprint, string Capability, DateTimeOffset At) : IIdempotencyEvent;

    /// <summary>The call is held for approval <paramref name="ApprovalId"/>.</summary>
    [WireName("idempotency.key-held.v1")]
    public sealed record KeyHeld(string Key, ApprovalId ApprovalId, DateTimeOffset At) : IIdempotencyEvent;

    /// <summary>The approval released the call to run.</summary>
    [WireName("idempotency.key-resumed.v1")]
    public sealed record KeyResumed(string Key, DateTimeOffset At) : IIdempotencyEvent;

    /// <summary>The call was answered; <paramref name="Outcome"/> is null when it was too large to keep.</summary>
    [WireName("idempotency.key-completed.v1")]
    public sealed record KeyCompleted(string Key, ToolCallResult? Outcome, bool Succeeded, DateTimeOffset At) : IIdempotencyEvent;

    /// <summary>The call was refused with a retryable error before it ran (e.g. <c>ServiceUnavailable</c>): the key is
    /// forgotten, so re-sending it asks again instead of replaying the refusal.</summary>
    [WireName("idempotency.key-released.v1")]
    public sealed record KeyReleased(string Key, DateTimeOffset At) : IIdempotencyEvent;

    /// <summary>A re-sent call found the key running from before a restart: its outcome is unknown for good.</summary>
    [WireName("idempotency.key-interrupted.v1")]
    public sealed record KeyInterrupted(string Key, DateTimeOffset At) : IIdempotencyEvent;
}

/// <summary>Retention of the ledger: how long and how many keys an agent keeps.</summary>
/// <param name="Window">A key is forgotten this long after it was first seen (unless its call is still live).</param>
/// <param name="MaxKeys">Most keys kept per agent; the oldest answered keys make room first.</param>
/// <param name="MaxOutcomeBytes">Largest recorded result (serialized data or error); larger ones are recorded as "not retained".</param>
public sealed record IdempotencyLimits(TimeSpan Window, int MaxKeys, int MaxOutcomeBytes)
{
    /// <summary>24 h (covers the default approval hold), 1,000 keys, 1 MiB.</summary>
    public static readonly IdempotencyLimits Default = new(TimeSpan.FromHours(24), 1000, 1024 * 1024);
}

/// <summary>What to do with a keyed call.</summary>
public enum IdempotencyVerdictKind
{
    /// <summary>First time: record the key and run the call.</summary>
    Start,
    /// <summary>The call is live in this incarnation: wait for its answer.</summary>
    Attach,
    /// <summary>Answer with the recorded outcome.</summary>
    Replay,
    /// <summary>Held for approval before a restart: run again joined to the same approval (one approval, one execution).</summary>
    Reattach,
    /// <summary>Started before a restart with no outcome recorded: answer <c>OutcomeUnknown</c>, never run again.</summary>
    Unknown,
    /// <summary>Same key, different call: refuse.</summary>
    Conflict,
    /// <summary>No room for another key: refuse (retryable).</summary>
    Full,
}

/// <summary>The decision for a keyed call, with the entry it was made on.</summary>
public sealed record IdempotencyVerdict(IdempotencyVerdictKind Kind, IdempotencyEntry? Entry);

/// <summary>
/// The keys one agent has seen (pure): decisions and event application. The actor owning it knows which
/// keys have a live call in its own incarnation; everything else comes from the journal.
/// </summary>
[WireName("idempotency.ledger.v1")]
public sealed record IdempotencyLedger(ImmutableDictionary<string, IdempotencyEntry> Entries) : IKruxMessage
{
    /// <summary>No keys.</summary>
    public static readonly IdempotencyLedger Empty = new(ImmutableDictionary<string, IdempotencyEntry>.Empty.WithComparers(StringComparer.Ordinal));

    /// <summary>
    /// Decides a keyed call. <paramref name="live"/>: whether a call with this key is running or held in
    /// the current incarnation (it is false for every key after a restart).
    /// </summary>
    public IdempotencyVerdict Decide(string key, string fingerprint, bool live, DateTimeOffset now, IdempotencyLimits limits)
    {
        if (!Entries.TryGetValue(key, out var e) || (!live && Expired(e, now, limits)))
            return new IdempotencyVerdict(HasRoom(now, limits) ? IdempotencyVerdictKind.Start : IdempotencyVerdictKind.Full, null);
        if (!string.Equals(e.Fingerprint, fingerprint, StringComparison.Ordinal)) return new IdempotencyVerdict(IdempotencyVerdictKind.Conflict, e);
        var kind = e.Status switch
        {
            IdempotencyStatus.Completed => IdempotencyVerdictKind.Replay,
            IdempotencyStatus.Interrupted => IdempotencyVerdictKind.Unknown,
            IdempotencyStatus.Running => live ? IdempotencyVerdictKind.Attach : IdempotencyVerdictKind.Unknown,
            _ => live ? IdempotencyVerdictKind.Attach : IdempotencyVerdictKind.Reattach,
        };
        return new IdempotencyVerdict(kind, e);
    }

    /// <summary>Applies an event. <see cref="IdempotencyEvents.KeyStarted"/> also forgets keys past the window and, over the cap, the oldest answered ones.</summary>
    public IdempotencyLedger Apply(IIdempotencyEvent evt, IdempotencyLimits limits)
    {
        ArgumentNullException.ThrowIfNull(evt);
        ArgumentNullException.ThrowIfNull(limits);
        switch (evt)
        {
            case IdempotencyEvents.KeyStarted s:
                var pruned = Prune(s.At, limits);
                return new IdempotencyLedger(pruned.SetItem(s.Key, new IdempotencyEntry(s.Key, s.Fingerprint, s.Capability, IdempotencyStatus.Running, s.At)));
            case IdempotencyEvents.KeyHeld h:
                return Update(h.Key, e => e with { Status = IdempotencyStatus.Held, ApprovalId = h.ApprovalId });
            case IdempotencyEvents.KeyResumed r:
                return Update(r.Key, e => e with { Status = IdempotencyStatus.Running });
            case IdempotencyEvents.KeyCompleted c:
                return Update(c.Key, e => e with { Status = IdempotencyStatus.Completed, Outcome = c.Outcome, Succeeded = c.Succeeded });
            case IdempotencyEvents.KeyReleased r:
                return new IdempotencyLedger(Entries.Remove(r.Key));
            case IdempotencyEvents.KeyInterrupted i:
                return Update(i.Key, e => e with { Status = IdempotencyStatus.Interrupted });
            default:
                return this;
        }
    }

    /// <summary>
    /// Whether an answer is kept for replay: everything except a retryable refusal of a call that never
    /// started to execute (nothing happened, so the same key may ask again).
    /// </summary>
    public static bool Records(ToolCallResult result, bool executed)
    {
        ArgumentNullException.ThrowIfNull(result);
        return executed || result.Error is not { Retryable: true };
    }

    /// <summary>
    /// The event that records the answer of a keyed call: <see cref="IdempotencyEvents.KeyCompleted"/> when it is kept for
    /// replay, <see cref="IdempotencyEvents.KeyReleased"/> for a retryable refusal of a call that never executed — except
    /// when the key is still held on its approval (a call re-attached after a restart, refused by a node still starting
    /// before it left its hold): then nothing, so the key stays bound to that approval and the next copy re-attaches to
    /// it instead of asking a second approval for the same call.
    /// </summary>
    /// <param name="key">The call's key.</param>
    /// <param name="result">Its answer.</param>
    /// <param name="executed">Whether it started to execute.</param>
    /// <param name="retained">The outcome to keep for replay (null when it is too large to keep).</param>
    /// <param name="now">The time of the answer.</param>
    public IIdempotencyEvent? Answered(string key, ToolCallResult result, bool executed, ToolCallResult? retained, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(result);
        if (Records(result, executed)) return new IdempotencyEvents.KeyCompleted(key, retained, !result.IsError, now);
        return Entries.TryGetValue(key, out var entry) && entry is { Status: IdempotencyStatus.Held, ApprovalId: not null }
            ? null
            : new IdempotencyEvents.KeyReleased(key, now);
    }

    /// <summary>The answer a re-sent call gets for a <see cref="IdempotencyVerdictKind.Replay"/> or <see cref="IdempotencyVerdictKind.Unknown"/> verdict.</summary>
    public static ToolCallResult Answer(IdempotencyEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        return entry.Status switch
        {
            IdempotencyStatus.Completed when entry.Outcome is { } outcome => outcome,
            IdempotencyStatus.Completed => ToolCallResult.Failure(entry.Capability, IdempotencyKeys.OutcomeNotRetained(entry.Key, entry.Capability, entry.Succeeded), null, 0),
            _ => ToolCallResult.Failure(entry.Capability, IdempotencyKeys.OutcomeUnknown(entry.Key, entry.Capability), null, 0),
        };
    }

    // Events about a key already forgotten are ignored: the key's record is gone, so is its answer.
    private IdempotencyLedger Update(string key, Func<IdempotencyEntry, IdempotencyEntry> change) =>
        Entries.TryGetValue(key, out var e) ? new IdempotencyLedger(Entries.SetItem(key, change(e))) : this;

    private static bool Expired(IdempotencyEntry e, DateTimeOffset now, IdempotencyLimits limits) => e.At + limits.Window <= now;

    private bool HasRoom(DateTimeOffset now, IdempotencyLimits limits) =>
        Entries.Count < limits.MaxKeys || Entries.Values.Any(e => e.IsTerminal || Expired(e, now, limits));

    private ImmutableDictionary<string, IdempotencyEntry> Prune(DateTimeOffset now, IdempotencyLimits limits)
    {
        var entries = Entries;
        foreach (var e in entries.Values.Where(e => Expired(e, now, limits)).ToList()) entries = entries.Remove(e.Key);
        if (entries.Count < limits.MaxKeys) return entries;
        foreach (var e in entries.Values.Where(e => e.IsTerminal).OrderBy(e => e.At).ThenBy(e => e.Key, StringComparer.Ordinal).Take(entries.Count - limits.MaxKeys + 1).ToList())
            entries = entries.Remove(e.Key);
        return entries;
    }
}
