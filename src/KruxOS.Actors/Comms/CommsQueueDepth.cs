using Akka.Actor;
using Akka.Hosting;
using KruxOS.Core.Agents;
using KruxOS.Core.Comms;
using KruxOS.Core.Identity;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static KruxOS.Core.Comms.InboxReplies;

namespace KruxOS.Actors.Comms;

/// <summary>
/// <c>comms_queue_depth</c> (<c>/health</c>): unread messages in every agent's inbox, as the inbox entities themselves
/// counted them at the last recount. The recount asks each known agent's inbox (wherever it runs, so every node of a
/// cluster reports the deployment's depth), which also wakes inboxes after a restart. -1 until the first recount.
/// </summary>
public sealed class CommsQueueDepth
{
    private long _depth = -1;

    /// <summary>The latest total; -1 before the first recount.</summary>
    public long Value => Interlocked.Read(ref _depth);

    internal void Set(long depth)
    {
        Interlocked.Exchange(ref _depth, depth);
        LastError = null;
    }

    /// <summary>Why the latest recount failed, if it did (diagnostics).</summary>
    public string? LastError { get; internal set; }
}

/// <summary>Recounts <see cref="CommsQueueDepth"/> every <see cref="CommsSettings.DepthInterval"/>.</summary>
internal sealed class CommsQueueDepthService(CommsQueueDepth depth, IRequiredActor<InboxRegion> inboxes, Identity.IdentityDirectory identities,
    CommsSettings settings, ILogger<CommsQueueDepthService> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await identities.Ready.WaitAsync(stoppingToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(settings.DepthInterval);
            do
            {
                try
                {
                    await RecountAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // One failed recount keeps the previous figure; the next tick tries again.
                    depth.LastError = e.GetType().Name + ": " + e.Message;
                    log.LogWarning(e, "Recounting comms_queue_depth failed; the previous depth stays");
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RecountAsync(CancellationToken ct)
    {
        var region = await inboxes.GetAsync(ct).ConfigureAwait(false);
        long total = 0;
        foreach (var agent in identities.Current.Agents.Values.Where(a => a.Status == AgentStatus.Active))
        {
            try
            {
                if (await region.Ask<ICommsReply>(new InboxCommands.GetInboxStatus(AgentName.Parse(agent.Name)), PostOffice.AskTimeout, ct)
                        .ConfigureAwait(false) is InboxStatus s)
                    total += s.Messages;
            }
            catch (AskTimeoutException)
            {
                log.LogWarning("The inbox of {Agent} did not answer the depth recount; the previous depth stays", agent.Name);
                depth.LastError = $"the inbox of {agent.Name} did not answer";
                return;
            }
        }
        depth.Set(total);
    }
}
