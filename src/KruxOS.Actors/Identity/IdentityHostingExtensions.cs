using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Actor;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Identity;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Identity;

/// <summary>
/// The identity area: the node's <see cref="IdentityDirectory"/> read model, the identity registry (a cluster singleton
/// <c>identity</c>, or <c>/user/gateway/identity</c> on a single node) registered under <see cref="IdentityRegistry"/>,
/// in a cluster the replica that keeps this node's directory in step, and the <c>identity-store</c> health check.
/// </summary>
public static class IdentityHostingExtensions
{
    /// <summary>The registry's (single node) or replica's (cluster) creation order: after the sessions it notifies.</summary>
    public const int Order = 60;

    /// <summary>Registers the area.</summary>
    public static IServiceCollection AddIdentityArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<IdentityDirectory>();
        services.AddNodeSingleton<IdentityRegistry>("identity", Order, ctx => IdentityActor.Props(Publisher(ctx), ctx.Get<AgentSessionRegion>()));
        services.AddNodeChild<IdentityReplicaActor>("identity-replica", Order,
            ctx => IdentityReplicaActor.Props(ctx.Services.GetRequiredService<IdentityDirectory>(), ctx.Get<IdentityRegistry>()), HostingModes.Cluster);
        services.AddHealthCheck("identity-store", sp =>
        {
            var identities = sp.GetRequiredService<IdentityDirectory>();
            return _ => ValueTask.FromResult(identities.Ready.IsCompletedSuccessfully
                ? HealthCheckResult.Healthy($"{identities.Current.Agents.Count} agents")
                : HealthCheckResult.Critical("identity journal not recovered yet"));
        });
        return services;
    }

    // Every new state goes to this node's directory; in a cluster also to every node's replica.
    private static Action<VersionedIdentityState> Publisher(HostingContext ctx)
    {
        var directory = ctx.Services.GetRequiredService<IdentityDirectory>();
        if (ctx.Mode == HostingMode.SingleNode) return versioned => directory.Publish(versioned.State);
        var system = ctx.System;
        return versioned =>
        {
            directory.Publish(versioned.State);
            DistributedPubSub.Get(system).Mediator.Tell(new Publish(IdentityReplicaActor.Topic, versioned));
        };
    }
}
