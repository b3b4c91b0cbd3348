using System.Collections.Immutable;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Comms;
using KruxOS.Core.Errors;
using KruxOS.Core.Identity;
using static KruxOS.Core.Comms.ChannelCommands;
using static KruxOS.Core.Comms.ChannelReplies;
using static KruxOS.Core.Comms.InboxCommands;
using static KruxOS.Core.Comms.InboxReplies;

namespace KruxOS.Actors.Comms;

/// <summary>One message's delivery to one inbox: queued (and whether a connected client was notified), or refused with why.</summary>
public sealed record Delivery(AgentName Recipient, bool Queued, bool Notified, StructuredError? Error);

/// <summary>
/// The node's way into comms for async code (capability handlers, the scheduler's result path, system notices): it
/// asks the inbox and channel entities (wherever they run) and notifies a recipient's connected MCP clients through its
/// session entity. Every answer is an entity's, after its events are durable; a timeout is a retryable
/// <c>CommsError</c>, never a silent success.
/// </summary>
public sealed class PostOffice(IRequiredActor<InboxRegion> inboxes, IRequiredActor<ChannelRegion> channels,
    IRequiredActor<AgentSessionRegion> sessions, Identity.IdentityDirectory identities)
{
    /// <summary>How long one entity is waited for.</summary>
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Whether <paramref name="agent"/> is an agent that is not revoked.</summary>
    public bool IsActive(AgentName agent) =>
        identities.Current.Agents.TryGetValue(agent.Value, out var a) && a.Status == AgentStatus.Active;

    /// <summary>Every agent identity, as the broadcast sees them.</summary>
    public IEnumerable<AgentRecord> Agents => identities.Current.Agents.Values;

    /// <summary>Asks an inbox.</summary>
    public Task<ICommsReply> InboxAsync(IInboxCommand command, CancellationToken ct) => AskAsync(inboxes, command, ct);

    /// <summary>Asks a channel.</summary>
    public Task<ICommsReply> ChannelAsync(IChannelCommand command, CancellationToken ct) => AskAsync(channels, command, ct);

    /// <summary>
    /// Queues <paramref name="message"/> in <paramref name="recipient"/>'s inbox and, once it is durable, notifies the
    /// recipient's connected clients (<see cref="CommsMessages.NotificationMethod"/>). A duplicate id is not notified twice.
    /// </summary>
    public async Task<Delivery> DeliverAsync(AgentName recipient, CommsMessage message, CancellationToken ct)
    {
        var reply = await InboxAsync(new Deliver(recipient, message), ct).ConfigureAwait(false);
        switch (reply)
        {
            case Delivered { Duplicate: true }:
                return new Delivery(recipient, true, false, null);
            case Delivered:
                return new Delivery(recipient, true, await NotifyAsync(recipient, message, ct).ConfigureAwait(false), null);
            case CommsRefused r:
                return new Delivery(recipient, false, false, r.Error);
            default:
                return new Delivery(recipient, false, false, CommsErrors.CommsError("the inbox gave an unexpected answer", "retry"));
        }
    }

    /// <summary>The members of <paramref name="channel"/> a message from <paramref name="from"/> goes to.</summary>
    public async Task<ImmutableArray<AgentName>> FanOutAsync(string channel, string from, CancellationToken ct)
    {
        var reply = await ChannelAsync(new PlanFanOut(channel, from), ct).ConfigureAwait(false);
        return reply switch
        {
            FanOut f => f.Recipients.IsDefault ? [] : f.Recipients,
            CommsRefused r => throw new KruxOS.Capabilities.CapabilityException(r.Error),
            _ => throw new KruxOS.Capabilities.CapabilityException(CommsErrors.CommsError("the channel gave an unexpected answer", "retry")),
        };
    }

    /// <summary>Whether a client of <paramref name="agent"/> is connected (anywhere in the cluster).</summary>
    public async Task<bool> IsConnectedAsync(AgentName agent, CancellationToken ct)
    {
        try
        {
            var region = await sessions.GetAsync(ct).ConfigureAwait(false);
            var info = await region.Ask<AgentSessionReplies.SessionInfo>(new AgentSessionCommands.GetInfo(agent), AskTimeout, ct).ConfigureAwait(false);
            return !info.Connections.IsDefaultOrEmpty;
        }
        catch (AskTimeoutException)
        {
            return false;
        }
    }

    // Tells the agent's session to push the notification to every open connection; true when there was one.
    private async Task<bool> NotifyAsync(AgentName agent, CommsMessage message, CancellationToken ct)
    {
        if (!await IsConnectedAsync(agent, ct).ConfigureAwait(false)) return false;
        var payload = JsonSerializer.Serialize(new
        {
            message_id = message.MessageId,
            from = message.From,
            priority = message.Priority.ToWire(),
            channel = message.Channel,
            sent_at = message.SentAt,
        }, CoreJson.Options);
        var region = await sessions.GetAsync(ct).ConfigureAwait(false);
        region.Tell(new AgentSessionCommands.Notify(agent, CommsMessages.NotificationMethod, payload), ActorRefs.NoSender);
        return true;
    }

    private static async Task<ICommsReply> AskAsync<TKey>(IRequiredActor<TKey> key, object command, CancellationToken ct)
    {
        var region = await key.GetAsync(ct).ConfigureAwait(false);
        try
        {
            return await region.Ask<ICommsReply>(command, AskTimeout, ct).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return new CommsRefused(CommsErrors.CommsError("the message store did not answer in time", "retry"));
        }
    }
}
