using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Comms;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Pauses;
using KruxOS.Core.Agents;
using KruxOS.Core.Identity;
using KruxOS.Core.Scheduling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace KruxOS.Actors.Scheduling;

/// <summary>Configuration of the scheduler (<c>KruxOS:Scheduler</c>).</summary>
public sealed class SchedulerSettings
{
    /// <summary>How often each scheduler entity re-reads its clock. Default 5 s.</summary>
    public TimeSpan CheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often every agent's scheduler is woken (after a restart or a node loss it starts again within this). Default 30 s.</summary>
    public TimeSpan WakeInterval { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>
/// The scheduler area: one entity per agent (<c>scheduler</c> shard region, or <c>/user/gateway/schedulers</c>), the
/// <see cref="SchedulerClock"/> seam, the waker that starts every agent's scheduler after a restart or a node loss, and
/// the pause listener that suspends a paused agent's jobs.
/// </summary>
public static class SchedulerHostingExtensions
{
    /// <summary>The entities' creation order (single node).</summary>
    public const int Order = GatewayAreas.FirstFreeOrder + 40;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddSchedulerArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var scheduler = settings.Scheduler;
        if (scheduler.CheckInterval <= TimeSpan.Zero || scheduler.WakeInterval <= TimeSpan.Zero)
            throw new ArgumentException("KruxOS:Scheduler intervals must be positive");
        services.AddSingleton(scheduler);
        // TryAdd: a host (a spec) that registered its own clock first keeps it.
        services.TryAddSingleton(sp => new SchedulerClock(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IPauseListener, SchedulerPauseListener>();
        services.AddHostedService<SchedulerWaker>();
        services.AddEntity<SchedulerRegion>("scheduler", "schedulers", Order, new SchedulerMessageExtractor(), (entityId, ctx) =>
        {
            var sp = ctx.Services;
            return SchedulerActor.Props(entityId, new SchedulerDependencies(SchedulerLimits.Default, sp.GetRequiredService<SchedulerClock>(),
                sp.GetRequiredService<CallDispatcher>(), sp.GetRequiredService<PostOffice>(), sp.GetRequiredService<Identity.IdentityDirectory>(),
                sp.GetService<PauseDirectory>(), scheduler.CheckInterval, settings.UseClustering));
        });
        return services;
    }
}

/// <summary>Suspends (or resumes) an agent's jobs as soon as it is paused (or resumed); each tick also re-reads the pause list.</summary>
internal sealed class SchedulerPauseListener(IRequiredActor<SchedulerRegion> schedulers) : IPauseListener
{
    public async Task PauseChangedAsync(AgentName agent, bool paused, CancellationToken ct)
    {
        var region = await schedulers.GetAsync(ct).ConfigureAwait(false);
        region.Tell(new SchedulerCommands.Tick(agent), ActorRefs.NoSender);
    }
}

/// <summary>
/// Wakes every known agent's scheduler entity every <see cref="SchedulerSettings.WakeInterval"/> (and at start), so jobs
/// fire after a restart or after the node that hosted an entity is lost (sharding starts it elsewhere). A tick that
/// finds nothing due changes nothing.
/// </summary>
internal sealed class SchedulerWaker(IRequiredActor<SchedulerRegion> schedulers, Identity.IdentityDirectory identities, SchedulerSettings settings)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await identities.Ready.WaitAsync(stoppingToken).ConfigureAwait(false);
            var region = await schedulers.GetAsync(stoppingToken).ConfigureAwait(false);
            using var timer = new PeriodicTimer(settings.WakeInterval);
            do
            {
                foreach (var agent in identities.Current.Agents.Values)
                    if (AgentName.TryParse(agent.Name, out var name, out _)) region.Tell(new SchedulerCommands.Tick(name), ActorRefs.NoSender);
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
