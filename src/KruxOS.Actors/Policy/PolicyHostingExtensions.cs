using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Hosting;
using KruxOS.Capabilities;
using Microsoft.Extensions.DependencyInjection;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Policy;

/// <summary>
/// Hosting of the node's policy: the <see cref="PolicyStore"/> every decision reads, and the
/// <see cref="PolicyStoreActor"/> that keeps it in step with the node's policy directory.
/// </summary>
public static class PolicyHostingExtensions
{
    /// <summary>The name of the policy loader under the gateway root; it is registered as <see cref="PolicyStoreActor"/>.</summary>
    public const string LoaderName = "policies";

    /// <summary>How long the loader waits after the last file notification before reading.</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(150);

    /// <summary>
    /// Registers the node's <see cref="PolicyStore"/> for the files in <see cref="KruxOsSettings.PoliciesDir"/>, also as the
    /// pipeline's <see cref="IPolicySeam"/>. Until the loader has compiled a set, decisions fail closed (ADR 0007).
    /// </summary>
    public static IServiceCollection AddPolicyStore(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton(sp => new PolicyStore(sp.GetRequiredService<CapabilityCatalog>().Registry, settings.PoliciesDir));
        services.AddSingleton<IPolicySeam>(sp => sp.GetRequiredService<PolicyStore>());
        services.AddSingleton(sp => new CapabilityView(sp.GetRequiredService<CapabilityCatalog>().Registry, sp.GetRequiredService<IPolicySeam>()));
        services.AddSingleton<IPolicyView>(sp => sp.GetRequiredService<CapabilityView>());
        return services;
    }

    /// <summary>The policy loader's creation order among the node children.</summary>
    public const int Order = 20;

    /// <summary>
    /// The policy area: the <see cref="PolicyStore"/> (<see cref="AddPolicyStore"/>) and its loader, a node child named
    /// <see cref="LoaderName"/> registered under <see cref="PolicyStoreActor"/>. Each node compiles its own data directory's
    /// policy files; in a cluster they are the node's mirror of the cluster's one revision, kept by the policy ledger
    /// (a cluster singleton <c>policy-ledger</c>, ADR 0059; docs/cluster.md).
    /// </summary>
    public static IServiceCollection AddPolicyArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddPolicyStore(settings);
        // Cluster only: a single node's directory is its one source, with no journal round trip before its first decision.
        services.AddSingleton<ClusterHosted>(new Singleton<PolicyLedgerKey>(LedgerName, Order,
            ctx => PolicyLedgerActor.Props(ctx.Services.GetRequiredService<TimeProvider>())));
        services.AddNodeChild<PolicyStoreActor>(LoaderName, Order, ctx => PolicyStoreActor.Props(ctx.Services.GetRequiredService<PolicyStore>(),
            ctx.Settings.PoliciesDir, ctx.Settings.PolicyRescanInterval, Settle, ctx.Services.GetRequiredService<TimeProvider>(),
            ctx.Mode == HostingMode.Cluster ? ctx.Get<PolicyLedgerKey>() : null));
        return services;
    }

    /// <summary>The cluster singleton holding the cluster's policy revision.</summary>
    public const string LedgerName = "policy-ledger";
}
