using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Admin;

/// <summary>Registers the admin services and their control-socket adapter (the User API resolves the services directly).</summary>
public static class AdminHostingExtensions
{
    /// <summary>
    /// The typed admin services (agents, user tokens, approvals, policy, audit maintenance and queries, mounts, status, the supervision feed) and
    /// the control socket's method table over them. A new adapter (the dashboard) resolves the same singletons.
    /// </summary>
    public static IServiceCollection AddAdminServices(this IServiceCollection services)
    {
        services.AddSingleton<AgentActivity>();
        services.AddSingleton(sp =>
        {
            var settings = sp.GetRequiredService<KruxOS.Actors.Hosting.KruxOsSettings>();
            return new SupervisionFeed(sp.GetRequiredService<Akka.Actor.ActorSystem>(), settings.UseClustering ? KruxOS.Actors.Cluster.NodeId.Of(settings) : null);
        });
        services.AddSingleton<IdentityAdminCalls>();
        services.AddSingleton<IUserTokenUsage>(sp => sp.GetRequiredService<UserTokenUsage>());
        services.AddSingleton<AgentAdmin>();
        services.AddSingleton<UserTokenAdmin>();
        services.AddSingleton<ApprovalAdmin>();
        services.AddSingleton<PolicyAdmin>();
        services.AddSingleton<AuditAdmin>();
        services.AddSingleton<MountAdmin>();
        services.AddSingleton<StatusService>();
        services.AddSingleton<AuditQueries>();
        services.AddSingleton<VaultControl>();
        services.AddSingleton<KruxOS.Actors.State.Backups.BackupAdmin>();
        services.AddSingleton<BackupControl>();
        services.AddSingleton<StateControl>();
        services.AddSingleton<ControlCommands>();
        return services;
    }
}
