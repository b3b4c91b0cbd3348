using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using KruxOS.Core.State;

namespace KruxOS.Core.Comms;

/// <summary>Priority of a message; <c>receive</c> returns high before normal before low.</summary>
public enum MessagePriority
{
    /// <summary><c>low</c>.</summary>
    Low,
    /// <summary><c>normal</c> (default).</summary>
    Normal,
    /// <summary><c>high</c>.</summary>
    High,
}

/// <summary>
/// A message: sent once, delivered to one inbox (direct) or to each subscriber's inbox (channel); the
/// same id in every inbox it reaches.
/// </summary>
/// <param name="MessageId"><c>msg-</c> + 16 lower-case hex characters (<see cref="CommsIds"/>).</param>
/// <param name="From">The sender (<see cref="PrincipalText"/>): an agent name, <c>user:…</c> or <c>system:…</c>.</param>
/// <param name="To">The recipient of a direct message; null for a channel message.</param>
/// <param name="Channel">The channel of a channel message; null for a direct one.</param>
/// <param name="Priority">The priority.</param>
/// <param name="Body">The text (<see cref="CommsMessages.ValidateBody"/>).</param>
/// <param name="SentAt">When it was sent.</param>
/// <param name="Delegation">Who the sender acted for, outermost first (e.g. <c>user:ops</c>, <c>planner</c>); recorded in the audit entry of the send.</param>
[WireName("comms.message.v1")]
public sealed record CommsMessage(string MessageId, string From, AgentName? To, string? Channel, MessagePriority Priority, string Body,
    DateTimeOffset SentAt, ImmutableArray<string> Delegation) : IKruxMessage
{
    /// <summary>Bytes the message is charged in an inbox: its UTF-8 text and the sender, plus a fixed overhead for the rest.</summary>
    public long Charge() => Encoding.UTF8.GetByteCount(Body) + Encoding.UTF8.GetByteCount(From) + CommsMessages.MessageOverheadBytes;
}

/// <summary>Message and channel ids.</summary>
public static class CommsIds
{
    /// <summary>Prefix of message ids.</summary>
    public const string MessagePrefix = "msg-";

    /// <summary>Prefix of channel subscription ids.</summary>
    public const string SubscriptionPrefix = "chsub-";

    /// <summary>A new random message id (reads the CSPRNG: call it when deciding).</summary>
    public static string NewMessageId() => MessagePrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>A new random channel subscription id.</summary>
    public static string NewSubscriptionId() => SubscriptionPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>True for <c>msg-</c> followed by 1-64 characters of <c>[a-z0-9-]</c>.</summary>
    public static bool IsMessageId(string? text) => HasShape(text, MessagePrefix);

    /// <summary>True for <c>chsub-</c> followed by 1-64 characters of <c>[a-z0-9-]</c>.</summary>
    public static bool IsSubscriptionId(string? text) => HasShape(text, SubscriptionPrefix);

    private static bool HasShape(string? text, string prefix)
    {
        if (text is null || !text.StartsWith(prefix, StringComparison.Ordinal) || text.Length <= prefix.Length || text.Length > prefix.Length + 64) return false;
        foreach (var c in text.AsSpan(prefix.Length))
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')) return false;
        return true;
    }
}

/// <summary>Where a <c>comms.send</c> goes: an agent, or a channel written <c>#name</c> (agent names cannot start with '#').</summary>
/// <param name="Agent">The recipient agent, for a direct message.</param>
/// <param name="Channel">The channel name (without '#'), for a channel message.</param>
public sealed record CommsAddress(AgentName? Agent, string? Channel)
{
    /// <summary>Parses <c>to</c>; null with an <c>InvalidInput</c> error when it is neither.</summary>
    public static CommsAddress? TryParse(string? to, out StructuredError? error)
    {
        error = null;
        if (to is not null && to.StartsWith('#'))
        {
            var name = to[1..];
            if (CommsMessages.ValidateChannel(name, "to") is { } bad) { error = bad; return null; }
            return new CommsAddress(null, name);
        }
        if (!AgentName.TryParse(to, out var agent, out var reason))
        {
            error = Errors.Errors.InvalidInput("to", reason + " (or '#channel' for a channel)");
            return null;
        }
        return new CommsAddress(agent, null);
    }
}

/// <summary>Boundary checks and wording of comms.</summary>
public static class CommsMessages
{
    /// <summary>Bytes charged per message on top of its text (id, times, priority, index entries).</summary>
    public const int MessageOverheadBytes = 256;

    /// <summary>Longest channel name.</summary>
    public const int MaxChannelLength = 64;

    /// <summary>Most entries in a delegation chain.</summary>
    public const int MaxDelegation = 16;

    /// <summary>The MCP notification a connected recipient gets when a message arrives.</summary>
    public const string NotificationMethod = "notifications/kruxos/message";

    /// <summary><c>low</c>, <c>normal</c>, <c>high</c>.</summary>
    public static string ToWire(this MessagePriority priority) => priority switch
    {
        MessagePriority.Low => "low",
        MessagePriority.High => "high",
        _ => "normal",
    };

    /// <summary>Parses a priority (<c>normal</c> when absent).</summary>
    public static bool TryParsePriority(string? text, out MessagePriority priority)
    {
        priority = MessagePriority.Normal;
        switch (text)
        {
            case null or "normal": return true;
            case "low": priority = MessagePriority.Low; return true;
            case "high": priority = MessagePriority.High; return true;
            default: return false;
        }
    }

    /// <summary>
    /// A channel name: 1-64 characters of <c>[a-z0-9._-]</c>, starting with a letter or digit. Null when valid,
    /// otherwise an <c>InvalidInput</c> error for <paramref name="field"/>.
    /// </summary>
    public static StructuredError? ValidateChannel(string? name, string field = "channel")
    {
        if (string.IsNullOrEmpty(name) || name.Length > MaxChannelLength || !char.IsAsciiLetterLower(name[0]) && !char.IsAsciiDigit(name[0])
            || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-'))
            return Errors.Errors.InvalidInput(field, $"a channel name is 1-{MaxChannelLength} characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");
        return null;
    }

    /// <summary>
    /// A message body: not empty, at most <paramref name="maxBytes"/> bytes of UTF-8, valid Unicode, and no
    /// control characters other than tab, line feed and carriage return (an escape sequence in a message
    /// would reach the operator's terminal through <c>kruxos</c>).
    /// </summary>
    public static StructuredError? ValidateBody(string? body, int maxBytes, string field = "message")
    {
        if (string.IsNullOrEmpty(body)) return Errors.Errors.InvalidInput(field, "must not be empty");
        if (!StoredJson.IsValidUnicode(body)) return Errors.Errors.InvalidInput(field, "is not valid Unicode (it contains a lone surrogate)");
        if (Encoding.UTF8.GetByteCount(body) > maxBytes) return Errors.Errors.InvalidInput(field, $"must be at most {maxBytes} bytes of UTF-8");
        foreach (var c in body)
            if (char.IsControl(c) && c is not ('\t' or '\n' or '\r'))
                return Errors.Errors.InvalidInput(field, $"must not contain control characters (U+{(int)c:X4})");
        return null;
    }

    /// <summary>A delegation chain: at most <see cref="MaxDelegation"/> entries, each an agent name, <c>user:…</c> or <c>system:…</c>.</summary>
    public static StructuredError? ValidateDelegation(ImmutableArray<string> chain)
    {
        if (chain.IsDefault) return null;
        if (chain.Length > MaxDelegation) return Errors.Errors.InvalidInput("delegation", $"has more than {MaxDelegation} entries");
        foreach (var entry in chain)
        {
            var ok = entry is not null && (PrincipalText.IsAgent(entry, out _) || PrincipalText.IsUser(entry) || PrincipalText.IsSystem(entry));
            if (!ok) return Errors.Errors.InvalidInput("delegation", "entries are agent names, 'user:<label>' or 'system:<component>'");
        }
        return null;
    }

    /// <summary>Checks a whole message as an inbox receives it (the inbox trusts nothing it is handed).</summary>
    public static StructuredError? Validate(CommsMessage message, int maxBodyBytes)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (!CommsIds.IsMessageId(message.MessageId)) return Errors.Errors.InvalidInput("message_id", "is not a message id");
        if (message.To is null == (message.Channel is null)) return Errors.Errors.InvalidInput("to", "a message goes to one agent or one channel");
        if (message.Channel is not null && ValidateChannel(message.Channel) is { } badChannel) return badChannel;
        if (ValidateDelegation(message.Delegation) is { } badChain) return badChain;
        if (ValidateDelegation([message.From]) is not null) return Errors.Errors.InvalidInput("from", "is not a sender");
        return ValidateBody(message.Body, maxBodyBytes);
    }

    /// <summary><c>delivered</c> when the recipient has a connected client that was notified, else <c>queued</c>.</summary>
    public static string DeliveryStatus(bool connected) => connected ? "delivered" : "queued";
}
