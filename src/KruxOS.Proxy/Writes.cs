using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;

namespace KruxOS.Proxy;

/// <summary>
/// One execution attempt of a write, as the adapter sees it.
/// </summary>
/// <param name="Id">The write (<c>wr-…</c>; for an immediate write a fresh id that is never stored).</param>
/// <param name="Service">The service.</param>
/// <param name="Operation">The capability (<c>email.send</c>).</param>
/// <param name="Arguments">The call's validated, normalised arguments, as the module's handler accepted them.</param>
/// <param name="Marker">The idempotency marker to put into the provider request.</param>
/// <param name="Agent">The agent that made the write (credential uses are audited in its name).</param>
/// <param name="SessionId">The session of the call that made the write.</param>
/// <param name="Attempt">1 for the first attempt; retries count up.</param>
/// <param name="Rollback">The rollback point captured before this attempt, when there is one.</param>
/// <param name="ProviderReference">When a rollback is applied: the reference the provider gave the executed write (e.g. Slack's
/// <c>channel/ts</c>); null otherwise.</param>
public sealed record WriteExecution(WriteId Id, ServiceName Service, CapabilityName Operation, JsonElement Arguments, WriteMarker Marker,
    AgentName Agent, string SessionId, int Attempt, RollbackPoint? Rollback, string? ProviderReference = null);

/// <summary>Whether a failure can go away by itself.</summary>
public enum WriteFailureKind
{
    /// <summary>Network error, 5xx, 429, a token refresh that failed: retried with backoff (1, 2, 4, 8, 16 min), then dead letter.</summary>
    Transient,
    /// <summary>The provider refused the request as such (4xx other than 429): dead letter at once; the operator may retry.</summary>
    Permanent,
}

/// <summary>The outcome of executing a write (or applying a rollback).</summary>
public abstract record WriteOutcome
{
    private WriteOutcome() { }

    /// <summary>The provider accepted it.</summary>
    /// <param name="ProviderReference">The provider's id of what it created or changed (message id, <c>channel/ts</c>); at most 512 characters.</param>
    /// <param name="Result">Extra output for an immediate write's caller (e.g. <c>draft_id</c>), or null.</param>
    public sealed record Done(string ProviderReference, JsonElement? Result = null) : WriteOutcome;

    /// <summary>It failed.</summary>
    /// <param name="Kind">Transient or permanent.</param>
    /// <param name="Reason">What went wrong, for operators and the dead letter (no credential, no body; at most 500 characters).</param>
    /// <param name="RetryAfter">The provider's own retry hint (<c>Retry-After</c>), when it gave one.</param>
    public sealed record Failed(WriteFailureKind Kind, string Reason, TimeSpan? RetryAfter = null) : WriteOutcome;

    /// <summary>A transient failure.</summary>
    public static Failed Transient(string reason, TimeSpan? retryAfter = null) => new(WriteFailureKind.Transient, reason, retryAfter);

    /// <summary>A permanent failure.</summary>
    public static Failed Permanent(string reason) => new(WriteFailureKind.Permanent, reason);
}

/// <summary>The answer of <see cref="IServiceAdapter.FindExecutedAsync"/>.</summary>
public abstract record ExecutedLookup
{
    private ExecutedLookup() { }

    /// <summary>The provider holds the write's result: it is recorded done with this reference and not sent again.</summary>
    public sealed record Found(string ProviderReference) : ExecutedLookup;

    /// <summary>The provider certainly does not hold it: the write may be executed.</summary>
    public sealed record NotFound : ExecutedLookup;

    /// <summary>The lookup itself failed: the attempt counts as a transient failure and is retried later (never executed blindly).</summary>
    public sealed record Unknown(string Reason) : ExecutedLookup;

    /// <summary>The one <see cref="NotFound"/>.</summary>
    public static readonly ExecutedLookup Absent = new NotFound();
}

/// <summary>
/// What an executed write can be undone with, kept for the operation's retention (spec §12.5).
/// </summary>
/// <param name="Kind">The spec's rollback kind (<c>untrash</c>, <c>reverse_labels</c>, <c>chat.delete</c>).</param>
/// <param name="Data">The adapter's data to undo it (labels before, the channel); small (at most 16 KiB as JSON), never a credential.</param>
/// <param name="CapturedAt">When it was captured.</param>
public sealed record RollbackPoint(string Kind, JsonElement Data, DateTimeOffset CapturedAt);

/// <summary>The answer of <see cref="IServiceAdapter.CaptureRollbackAsync"/>.</summary>
public abstract record RollbackCapture
{
    private RollbackCapture() { }

    /// <summary>Captured: stored with the write before it executes.</summary>
    public sealed record Captured(RollbackPoint Point) : RollbackCapture;

    /// <summary>This write needs none (e.g. the message is already in the state asked for).</summary>
    public sealed record NotNeeded : RollbackCapture;

    /// <summary>Capturing failed: the write does not execute in this attempt (counts as the given failure).</summary>
    public sealed record Failed(WriteOutcome.Failed Failure) : RollbackCapture;

    /// <summary>The one <see cref="NotNeeded"/>.</summary>
    public static readonly RollbackCapture None = new NotNeeded();
}

/// <summary>What a buffered write's caller gets back: <c>{write_id, buffer_until, status: "buffered"}</c>.</summary>
/// <param name="Id">The write.</param>
/// <param name="BufferUntil">When the window ends (the write executes after it unless cancelled).</param>
public sealed record WriteReceipt(WriteId Id, DateTimeOffset BufferUntil)
{
    /// <summary>The capability output (<c>write_id</c>, <c>buffer_until</c> in RFC 3339 UTC, <c>status</c>).</summary>
    public JsonElement ToOutput() => JsonSerializer.SerializeToElement(new Dictionary<string, string>
    {
        ["write_id"] = Id.Value,
        ["buffer_until"] = BufferUntil.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
        ["status"] = "buffered",
    });
}
