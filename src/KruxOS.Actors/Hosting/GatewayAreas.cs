using KruxOS.Actors.Agents;
using KruxOS.Actors.Alerts;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Comms;
using KruxOS.Actors.Cluster;
using KruxOS.Actors.Connections;
using KruxOS.Actors.Gmail;
using KruxOS.Actors.Health;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Pauses;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Proxy;
using KruxOS.Actors.Vault;
using KruxOS.Actors.State;
using KruxOS.Actors.Scheduling;
using KruxOS.Proxy.Slack;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Hosting;

/// <summary>
/// The node's areas, one line each. An area lives in its own folder and hosts itself through its own extension: its
/// entities (<see cref="EntityHosting.AddEntity{TRegion}"/>), singletons (<see cref="EntityHosting.AddNodeSingleton{TKey}"/>),
/// node children (<see cref="NodeChildren.AddNodeChild{TKey}"/>), journal adapters and health checks. A new area is a new
/// folder and one line here; the composition root does not change.
/// </summary>
public static class GatewayAreas
{
    /// <summary>
    /// Creation orders of today's node children (the gaps leave room): audit 0, host-metrics 10, policies 20, approvals 30,
    /// approval-index 40, agent-sessions 50, identity / identity-replica 60, connections 70, sandbox-housekeeping 80.
    /// New areas take orders from <see cref="FirstFreeOrder"/> on.
    /// </summary>
    public const int FirstFreeOrder = 100;

    /// <summary>Registers every area of the node.</summary>
    public static IServiceCollection AddGatewayAreas(this IServiceCollection services, KruxOsSettings settings) => services
        .AddAuditArea(settings)
        .AddHealthArea(settings)
        .AddPolicyArea(settings)
        .AddApprovalArea(settings)
        .AddAgentSessionArea(settings)
        .AddIdentityArea(settings)
        .AddConnectionArea(settings)
        .AddSandboxHousekeeping(settings)
        .AddVaultArea(settings)
        .AddStateArea(settings)
        .AddCommsArea(settings)
        .AddAlertsArea(settings)
        .AddPauseArea(settings)
        .AddSchedulerArea(settings)
        .AddProxyArea(settings)
        .AddSlackProxy(settings.Slack)
        .AddGmailArea(settings)
        .AddClusterArea(settings);
}
