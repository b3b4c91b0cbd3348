using KruxOS.Core.Agents;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Comms;

/// <summary>The comms errors (spec §16.2 <c>RecipientNotFound</c>, <c>CommsError</c>, and <c>InboxFull</c>).</summary>
public static class CommsErrors
{
    /// <summary>No such agent, or it is revoked (the two are not told apart).</summary>
    public static StructuredError RecipientNotFound(string to) =>
        StructuredError.Create("RecipientNotFound", $"There is no active agent named '{to}'.")
            .WithRecovery("check_recipient", "Check the agent name; channel names start with '#'.")
            .WithContext("to", to);

    /// <summary>
    /// The recipient's inbox is full (in total, or of messages from this sender). Retryable: it drains as the
    /// recipient receives. The message was not queued.
    /// </summary>
    public static StructuredError InboxFull(AgentName recipient, int limit, long limitBytes, bool perSender) =>
        StructuredError.Create("InboxFull", perSender
                    ? $"The inbox of '{recipient}' already holds {limit} unread messages from you; the message was not queued."
                    : $"The inbox of '{recipient}' is full ({limit} messages or {limitBytes} bytes); the message was not queued.",
                retryable: true)
            .RetryAfter(60)
            .WithRecovery("wait_and_retry", "Send again after the recipient has read its messages.")
            .WithContext("recipient", recipient.Value).WithContext("limit", limit).WithContext("per_sender", perSender);

    /// <summary>A channel message reached an agent that does not (or no longer) subscribes to the channel; the fan-out skips it.</summary>
    public static StructuredError NotSubscribed(AgentName agent, string channel) =>
        StructuredError.Create("CommsError", $"'{agent}' does not subscribe to channel '{channel}'.")
            .WithRecovery("subscribe", "Subscribe to the channel first.", "comms.subscribe")
            .WithContext("agent", agent.Value).WithContext("channel", channel).WithContext("reason", "not_subscribed");

    /// <summary>Any other comms failure, with its reason.</summary>
    public static StructuredError CommsError(string reason, string recovery) =>
        StructuredError.Create("CommsError", $"Comms failed: {reason}.")
            .WithRecovery(recovery, recovery == "reuse_channels" ? "Use the channels you already subscribe to; the operator can remove subscriptions." : "Try again later.")
            .WithContext("reason", reason);
}
