using System.Text.Json;
using KruxOS.Actors.Comms;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Comms;

namespace KruxOS.Actors.Capabilities.CommsCategory;

/// <summary>
/// <c>comms.send</c>: a direct message to one active agent, or a channel message (<c>#name</c>) copied into every
/// subscriber's inbox but the sender's. The answer comes after the copy is durable; <c>delivered</c> means a connected
/// client of the recipient was notified, <c>queued</c> that it waits for the next <c>receive</c>.
/// </summary>
[Capability("comms.send")]
public sealed class CommsSendHandler(PostOffice post, TimeProvider clock) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var to = CommsCalls.String(arguments, "to");
        var address = CommsAddress.TryParse(to, out var bad) ?? throw new CapabilityException(bad!);
        var body = CommsCalls.Body(arguments);
        var priority = CommsCalls.Priority(arguments);
        var (sender, chain) = CommsCalls.Sender(context);
        var id = CommsIds.NewMessageId();
        var now = clock.GetUtcNow();

        if (address.Agent is { } recipient)
        {
            if (!post.IsActive(recipient)) throw new CapabilityException(CommsErrors.RecipientNotFound(recipient.Value));
            var message = new CommsMessage(id, sender.Value, recipient, null, priority, body, now, chain);
            var d = await post.DeliverAsync(recipient, message, cancellationToken).ConfigureAwait(false);
            if (!d.Queued) throw new CapabilityException(CommsCalls.Failure(d));
            return CapabilityCatalog.ToElement(new { message_id = id, status = CommsMessages.DeliveryStatus(d.Notified), to = to! });
        }

        var channel = address.Channel!;
        var channelMessage = new CommsMessage(id, sender.Value, null, channel, priority, body, now, chain);
        var recipients = await post.FanOutAsync(channel, sender.Value, cancellationToken).ConfigureAwait(false);
        var notified = false;
        foreach (var member in recipients.Where(post.IsActive))
        {
            // A member whose inbox refuses (full, or it unsubscribed meanwhile) misses this copy; the others still get theirs.
            var d = await post.DeliverAsync(member, channelMessage, cancellationToken).ConfigureAwait(false);
            notified |= d.Notified;
        }
        return CapabilityCatalog.ToElement(new { message_id = id, status = CommsMessages.DeliveryStatus(notified), to = to! });
    }
}
