using System.Text.Json;
using KruxOS.Actors.Comms;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Comms;
using KruxOS.Core.Identity;

namespace KruxOS.Actors.Capabilities.CommsCategory;

/// <summary>
/// <c>comms.broadcast</c>: one message to every active agent the filter admits (policy group, name glob), never the
/// sender or a revoked agent. <c>delivered</c> and <c>queued</c> count the copies really queued, split by whether the
/// recipient had a connected client; an inbox that refused its copy (full) is in neither.
/// </summary>
[Capability("comms.broadcast")]
public sealed class CommsBroadcastHandler(PostOffice post, TimeProvider clock) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        JsonElement? filterArg = arguments.TryGetProperty("filter", out var f) ? f : null;
        var filter = BroadcastFilter.TryParse(filterArg, out var bad) ?? throw new CapabilityException(bad!);
        var body = CommsCalls.Body(arguments);
        var priority = CommsCalls.Priority(arguments);
        var (sender, chain) = CommsCalls.Sender(context);

        var candidates = post.Agents
            .Where(a => AgentName.TryParse(a.Name, out _, out _))
            .Select(a => new BroadcastCandidate(AgentName.Parse(a.Name),
                context.Policy.Effective(Principal.ForAgent(AgentName.Parse(a.Name))).PolicyGroup,
                a.Status != AgentStatus.Active, Connected: false));
        var plan = BroadcastPlan.For(sender.Value, filter, candidates);

        var id = CommsIds.NewMessageId();
        var now = clock.GetUtcNow();
        int delivered = 0, queued = 0;
        foreach (var recipient in plan.Recipients)
        {
            var message = new CommsMessage(id, sender.Value, recipient, null, priority, body, now, chain);
            var d = await post.DeliverAsync(recipient, message, cancellationToken).ConfigureAwait(false);
            if (!d.Queued) continue;
            if (d.Notified) delivered++; else queued++;
        }
        return CapabilityCatalog.ToElement(new { message_id = id, delivery_count = delivered + queued, delivered, queued });
    }
}
