using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Identity;
using KruxOS.Core.Capabilities;
using KruxOS.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>The sandbox area: the node's sandbox host, which the sandboxed modules' handlers execute in.</summary>
public static class SandboxHostingExtensions
{
    /// <summary>
    /// The sandbox host (one per node; it probes the kernel mechanisms when created and fails every sandboxed call
    /// closed when they are missing).
    /// </summary>
    public static IServiceCollection AddSandboxArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Sandbox.DataDirectory = settings.DataDir;
        services.AddSingleton(sp => new SandboxHost(settings.Sandbox, mounts: null, sp.GetService<ILogger<SandboxHost>>()));
        services.AddSingleton<ISandbox>(sp => sp.GetRequiredService<SandboxHost>());
        return services;
    }

    /// <summary>The housekeeping child's creation order: after the sessions it delivers watch events to.</summary>
    public const int HousekeepingOrder = 80;

    /// <summary>
    /// The sandbox's node child and health check. The housekeeping child (registered under <see cref="SandboxHousekeeping"/>)
    /// delivers <c>filesystem.watch</c> events to the agent's session (local parent or shard region), and stops agents'
    /// sandboxes on this node: on request (kill, revoke; relayed to every node in a cluster) and when the node's identity
    /// read model shows an agent revoked. The <c>sandbox</c> check reports the kernel mechanisms in force.
    /// </summary>
    public static IServiceCollection AddSandboxHousekeeping(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddNodeChild<SandboxHousekeeping>("sandbox-housekeeping", HousekeepingOrder, ctx => SandboxHousekeepingActor.Props(
            ctx.Services.GetRequiredService<ISandbox>(), ctx.Settings.DataDir, ctx.Services.GetRequiredService<TimeProvider>(),
            ctx.Get<AgentSessionRegion>(), ctx.Services.GetRequiredService<IdentityDirectory>(), ctx.Mode == HostingMode.Cluster,
            ctx.Services.GetService<KruxOS.Actors.State.BriefingFeeds>()));
        services.AddHealthCheck(KruxOS.Sandbox.Health.SandboxHealth.CheckName, sp =>
        {
            var sandbox = sp.GetRequiredService<ISandbox>();
            return _ => ValueTask.FromResult(sandbox.Health switch
            {
                { Status: KruxOS.Sandbox.Health.SandboxHealthStatus.Healthy } h => HealthCheckResult.Healthy(h.Message),
                { Status: KruxOS.Sandbox.Health.SandboxHealthStatus.Degraded } h => HealthCheckResult.Degraded(h.Message),
                var h => HealthCheckResult.Critical(h.Message),
            });
        });
        return services;
    }
}
