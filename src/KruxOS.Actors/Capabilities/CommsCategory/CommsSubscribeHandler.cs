using System.Text.Json;
using KruxOS.Actors.Comms;
using KruxOS.Capabilities;
using KruxOS.Core.Comms;
using static KruxOS.Core.Comms.ChannelCommands;
using static KruxOS.Core.Comms.ChannelReplies;
using static KruxOS.Core.Comms.InboxCommands;
using static KruxOS.Core.Comms.InboxReplies;

namespace KruxOS.Actors.Capabilities.CommsCategory;

/// <summary>
/// <c>comms.subscribe</c>: records the subscription in the caller's inbox first (so the inbox accepts the channel's
/// messages), then joins the channel, which exists from its first join. If the channel refuses, the inbox forgets the
/// subscription again and the refusal is returned.
/// </summary>
[Capability("comms.subscribe")]
public sealed class CommsSubscribeHandler(PostOffice post) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var channel = CommsCalls.String(arguments, "channel") ?? "";
        if (channel.StartsWith('#')) channel = channel[1..];
        if (CommsMessages.ValidateChannel(channel) is { } bad) throw new CapabilityException(bad);
        var agent = context.Session.Agent;

        var sub = await post.InboxAsync(new Subscribe(agent, channel, CommsIds.NewSubscriptionId()), cancellationToken).ConfigureAwait(false);
        if (sub is CommsRefused refused) throw new CapabilityException(refused.Error);
        var subscription = (SubscribeResult)sub;
        var join = await post.ChannelAsync(new JoinChannel(channel, agent, subscription.SubscriptionId), cancellationToken).ConfigureAwait(false);
        if (join is not Joined joined)
        {
            await post.InboxAsync(new Unsubscribe(agent, channel), cancellationToken).ConfigureAwait(false);
            throw new CapabilityException(join is CommsRefused r ? r.Error : CommsErrors.CommsError("the channel gave an unexpected answer", "retry"));
        }
        return CapabilityCatalog.ToElement(new { subscription_id = joined.SubscriptionId, channel });
    }
}
