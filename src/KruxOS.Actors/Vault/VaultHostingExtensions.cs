using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Vault;
using KruxOS.Vault;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Actors.Vault;

/// <summary>
/// The vault area: the vault entity (a cluster singleton <c>vault</c>, or <c>/user/gateway/vault</c> on a single node, persistence
/// id <c>vault</c>) registered under <see cref="VaultRegistry"/>; the node's ciphertext read model (<see cref="VaultDirectory"/>),
/// kept current in a cluster by <see cref="VaultReplicaActor"/>; the node's key (<see cref="VaultKeyHolder"/>, memory only);
/// the node's <see cref="ISecretAccess"/>; <see cref="VaultAdmin"/>; the start-up unlock; and the <c>vault</c> health check.
/// </summary>
public static class VaultHostingExtensions
{
    /// <summary>The entity's and replica's creation order (the first free order).</summary>
    public const int Order = GatewayAreas.FirstFreeOrder;

    /// <summary>The start-up unlock's creation order: after the entity.</summary>
    public const int StartupOrder = Order + 1;

    /// <summary>Registers the area. A <see cref="VaultStartupPassphrase"/> registered before (the gateway's, a test's) is kept.</summary>
    public static IServiceCollection AddVaultArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.TryAddSingleton(VaultStartupPassphrase.None);
        services.AddSingleton<VaultDirectory>();
        services.AddSingleton<VaultKeyHolder>();
        services.AddSingleton<HostedSecretAccess>();
        services.AddSingleton<ISecretAccess>(sp => sp.GetRequiredService<HostedSecretAccess>());
        services.AddSingleton<VaultAdmin>();
        services.AddNodeSingleton<VaultRegistry>("vault", Order, ctx => VaultActor.Props(Publisher(ctx)));
        services.AddNodeChild<VaultReplicaActor>("vault-replica", Order,
            ctx => VaultReplicaActor.Props(ctx.Services.GetRequiredService<VaultDirectory>(), ctx.Get<VaultRegistry>()), HostingModes.Cluster);
        services.AddNodeChild<VaultStartupActor>("vault-startup", StartupOrder, ctx => VaultStartupActor.Props(
            ctx.Services.GetRequiredService<VaultStartupPassphrase>(), ctx.Services.GetRequiredService<VaultAdmin>(),
            ctx.Services.GetRequiredService<VaultDirectory>()));
        services.AddHealthCheck("vault", sp =>
        {
            var directory = sp.GetRequiredService<VaultDirectory>();
            var admin = sp.GetRequiredService<VaultAdmin>();
            return _ => ValueTask.FromResult(Assess(directory.Ready.IsCompletedSuccessfully, admin.LockState, directory.Current));
        });
        return services;
    }

    /// <summary>
    /// The <c>vault</c> health check, from what is in force: not loaded yet and locked are degraded (everything that needs a
    /// secret fails with <c>VaultLocked</c>); uninitialised and unlocked are healthy.
    /// </summary>
    public static HealthCheckResult Assess(bool loaded, VaultLockState state, VaultState vault)
    {
        ArgumentNullException.ThrowIfNull(vault);
        if (!loaded) return HealthCheckResult.Degraded("vault: loading (journal not recovered yet)");
        var live = vault.Records.Values.Count(r => !r.IsRevoked);
        return state switch
        {
            VaultLockState.Uninitialised => HealthCheckResult.Healthy("vault: uninitialised"),
            VaultLockState.Locked => HealthCheckResult.Degraded($"vault: locked ({live} secrets unusable until 'kruxos vault unlock')"),
            _ => HealthCheckResult.Healthy($"vault: unlocked ({live} secrets)"),
        };
    }

    // Every new state goes to this node's directory; in a cluster also to every node's replica.
    private static Action<VersionedVaultState> Publisher(HostingContext ctx)
    {
        var directory = ctx.Services.GetRequiredService<VaultDirectory>();
        if (ctx.Mode == HostingMode.SingleNode) return versioned => directory.Publish(versioned);
        var system = ctx.System;
        return versioned =>
        {
            directory.Publish(versioned);
            DistributedPubSub.Get(system).Mediator.Tell(new Publish(VaultReplicaActor.Topic, versioned));
        };
    }
}
