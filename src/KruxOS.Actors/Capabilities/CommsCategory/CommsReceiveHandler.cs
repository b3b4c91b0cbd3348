using System.Text.Json;
using KruxOS.Actors.Comms;
using KruxOS.Capabilities;
using KruxOS.Core.Comms;
using static KruxOS.Core.Comms.InboxCommands;
using static KruxOS.Core.Comms.InboxReplies;

namespace KruxOS.Actors.Capabilities.CommsCategory;

/// <summary>
/// <c>comms.receive</c>: the caller's own inbox only (the agent is the session's, never an argument), high priority
/// first, then oldest; <c>acknowledge=false</c> peeks. Acknowledged messages are removed once that is durable.
/// </summary>
[Capability("comms.receive")]
public sealed class CommsReceiveHandler(PostOffice post) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        int? limit = arguments.TryGetProperty("limit", out var l) && l.ValueKind == JsonValueKind.Number && l.TryGetInt32(out var n) ? n : null;
        var channel = CommsCalls.String(arguments, "channel");
        if (channel is not null && channel.StartsWith('#')) channel = channel[1..];
        var acknowledge = !arguments.TryGetProperty("acknowledge", out var a) || a.ValueKind != JsonValueKind.False;

        var reply = await post.InboxAsync(new Receive(context.Session.Agent, limit, channel, acknowledge), cancellationToken).ConfigureAwait(false);
        if (reply is CommsRefused refused) throw new CapabilityException(refused.Error);
        var result = (ReceiveResult)reply;
        return CapabilityCatalog.ToElement(new
        {
            messages = result.Messages.Select(m => new
            {
                message_id = m.MessageId,
                from = m.From,
                message = m.Message,
                priority = m.Priority.ToWire(),
                sent_at = m.SentAt,
                channel = m.Channel,
            }),
            remaining = result.Remaining,
        });
    }
}
