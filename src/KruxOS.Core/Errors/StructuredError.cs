using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Errors;

/// <summary>A suggested next step for the caller after an error.</summary>
/// <param name="Action">Machine-readable action, e.g. <c>fix_input</c>.</param>
/// <param name="Description">What to do, in words.</param>
/// <param name="Capability">A capability that helps, when there is one (dotted).</param>
[WireName("error.recovery-action.v1")]
public sealed record RecoveryAction(string Action, string Description, string? Capability = null) : IKruxMessage;

/// <summary>
/// The one internal error type of the gateway (spec §3.7). Every transport renders it in its own
/// shape; nothing else is ever sent to a caller as an error.
/// </summary>
/// <param name="ErrorType">e.g. <c>PolicyDenied</c>, <c>auth.invalid_credentials</c>.</param>
/// <param name="Message">Agent-facing message (also used as the operator description).</param>
/// <param name="Recovery">Suggested next steps.</param>
/// <param name="Retryable">Whether the same call may succeed later.</param>
/// <param name="RetryAfterSeconds">When to retry, if known.</param>
/// <param name="Context">Structured details such as <c>field</c>, <c>rule</c>, <c>capability</c>.</param>
[WireName("error.structured.v1")]
public sealed record StructuredError(
    string ErrorType,
    string Message,
    ImmutableArray<RecoveryAction> Recovery,
    bool Retryable,
    double? RetryAfterSeconds,
    ImmutableSortedDictionary<string, JsonElement> Context) : IKruxMessage
{
    /// <summary>Creates an error with no recovery actions or context.</summary>
    public static StructuredError Create(string errorType, string message, bool retryable = false) =>
        new(errorType, message, [], retryable, null, ImmutableSortedDictionary<string, JsonElement>.Empty);

    /// <summary>Adds a recovery action.</summary>
    public StructuredError WithRecovery(string action, string description, string? capability = null) =>
        this with { Recovery = Recovery.Add(new RecoveryAction(action, description, capability)) };

    /// <summary>Adds a context value (serialized with System.Text.Json).</summary>
    public StructuredError WithContext<T>(string key, T value) =>
        this with { Context = Context.SetItem(key, JsonSerializer.SerializeToElement(value, CoreJson.Options)) };

    /// <summary>Sets the retry hint.</summary>
    public StructuredError RetryAfter(double seconds) => this with { Retryable = true, RetryAfterSeconds = seconds };

    /// <summary>Reads a string context value.</summary>
    public string? ContextString(string key) =>
        Context.TryGetValue(key, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>Record equality that compares collections by content.</summary>
    public bool Equals(StructuredError? other) =>
        other is not null && ErrorType == other.ErrorType && Message == other.Message && Retryable == other.Retryable
        && RetryAfterSeconds == other.RetryAfterSeconds && Recovery.SequenceEqual(other.Recovery)
        && Context.Count == other.Context.Count
        && Context.All(kv => other.Context.TryGetValue(kv.Key, out var o) && o.GetRawText() == kv.Value.GetRawText());

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(ErrorType, Message);
}
