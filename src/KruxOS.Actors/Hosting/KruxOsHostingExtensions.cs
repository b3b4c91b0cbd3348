using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Hosting;
using Akka.Persistence.Hosting;
using Akka.Persistence.Sql.Hosting;
using Akka.Remote.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Core.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Connections;
using KruxOS.Actors.Health;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Serialization;
using KruxOS.Actors.Sharding;
using KruxOS.Actors.ToolRuns;
using KruxOS.Core.Capabilities;
using Microsoft.Extensions.DependencyInjection;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Hosting;

/// <summary>Registry key of the node's connection parent.</summary>
public sealed class ConnectionRegistry;

/// <summary>Registry key of the node's gateway root.</summary>
public sealed class GatewayRoot;

/// <summary>
/// Composition of the actor layer: node services, the ActorSystem, network, persistence, serialization,
/// agent sessions (sharded or single-node) and the gateway root. One extension per concern.
/// </summary>
public static class KruxOsHostingExtensions
{
    /// <summary>Registers the node services and the ActorSystem.</summary>
    public static IServiceCollection AddKruxOsActors(this IServiceCollection services, KruxOsSettings settings)
    {
        settings.Validate();
        // Created private (0700) when missing; the gateway host sets its final mode before this (DataDirectory.Secure).
        if (!Directory.Exists(settings.DataDir)) KruxOS.Sandbox.PrivateFiles.CreateDirectory(settings.DataDir);
        if (settings.Persistence.Provider == PersistenceProvider.Sqlite) SqliteJournal.PrepareFile(settings.SqlitePath);

        services.AddSingleton(settings);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<IdentityDirectory>();
        services.AddSingleton<ApprovalIndex>();
        services.AddSingleton<HostMetrics>();
        services.AddSingleton<AuditProbe>();
        services.AddSingleton<AuditAvailability>();
        services.AddSingleton(sp => new HealthRegistry(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new NodeFacts(settings.DataDir, sp.GetRequiredService<TimeProvider>().GetUtcNow(),
            typeof(KruxOsHostingExtensions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"));
        services.AddBuiltInCapabilities(settings);
        services.AddPolicyStore(settings);
        services.AddCallPipeline(settings);

        services.AddAkka(KruxOsSettings.ActorSystemName, (builder, sp) => builder
            .ConfigureLoggers(logging =>
            {
                // Akka logs through Microsoft.Extensions.Logging, so one configuration governs every log line.
                logging.ClearLoggers();
                logging.AddLoggerFactory();
            })
            .ConfigureNetwork(settings)
            .ConfigurePersistence(settings)
            .AddKruxSerialization()
            .WithApprovals(settings, sp)
            .WithAgentSessions(settings, sp)
            .WithGatewayRoot(settings, sp));
        return services;
    }

    /// <summary>Remoting and clustering when <see cref="KruxOsSettings.UseClustering"/> is on; nothing otherwise.</summary>
    public static AkkaConfigurationBuilder ConfigureNetwork(this AkkaConfigurationBuilder builder, KruxOsSettings settings)
    {
        if (!settings.UseClustering) return builder;
        var seeds = settings.Cluster.SeedNodes.Count > 0
            ? settings.Cluster.SeedNodes.ToArray()
            : [$"akka.tcp://{KruxOsSettings.ActorSystemName}@{settings.Cluster.Hostname}:{settings.Cluster.Port}"];
        return builder
            .WithRemoting(settings.Cluster.Hostname, settings.Cluster.Port)
            .WithClustering(new ClusterOptions { SeedNodes = seeds, Roles = [GatewayRole] });
    }

    /// <summary>The cluster role of gateway nodes.</summary>
    public const string GatewayRole = "gateway";

    /// <summary>The SQL journal and snapshot store (SQLite by default, PostgreSQL for clusters).</summary>
    public static AkkaConfigurationBuilder ConfigurePersistence(this AkkaConfigurationBuilder builder, KruxOsSettings settings)
    {
        // Approval events are tagged so the approval index can be rebuilt from the journal with a tag query.
        void Tagging(AkkaPersistenceJournalBuilder j) => j.AddWriteEventAdapter<ApprovalEventTagger>("approval-tagger", [typeof(IApprovalEvent)]);
        if (settings.Persistence.Provider != PersistenceProvider.Sqlite)
            return builder.WithSqlPersistence(settings.JournalConnectionString, LinqToDB.ProviderName.PostgreSQL15, autoInitialize: true, journalBuilder: Tagging);
        // SQLite: one writer, SQLite's own busy handler, and the plugin's indexes (see SqliteJournal).
        return builder
            .WithSqlPersistence(SqliteJournal.DataOptions(settings.JournalConnectionString), autoInitialize: true, journalBuilder: Tagging)
            .AddHocon(SqliteJournal.Settings(settings.JournalConnectionString), HoconAddMode.Prepend);
    }

    /// <summary>
    /// Approvals: a shard region (<c>approval</c>) in cluster mode; otherwise they live under the gateway root in a
    /// <see cref="GenericChildPerEntityParent"/> using the same extractor (see <see cref="WithGatewayRoot"/>).
    /// </summary>
    public static AkkaConfigurationBuilder WithApprovals(this AkkaConfigurationBuilder builder, KruxOsSettings settings, IServiceProvider sp)
    {
        if (!settings.UseClustering) return builder;
        return builder.WithShardRegion<ApprovalRegion>("approval",
            (_, registry, _) => entityId => ApprovalActor.Props(entityId, ApprovalDependencies(settings, sp, registry.Get<AuditWriter>())),
            new ApprovalMessageExtractor(),
            new ShardOptions { StateStoreMode = StateStoreMode.DData, Role = GatewayRole, RememberEntities = false });
    }

    /// <summary>What every approval entity shares.</summary>
    public static ApprovalDependencies ApprovalDependencies(KruxOsSettings settings, IServiceProvider sp, IActorRef audit) =>
        new(sp.GetRequiredService<ApprovalIndex>(), settings.ApprovalGrantWindow, TimeSpan.FromSeconds(30), sp.GetRequiredService<TimeProvider>(),
            audit, ToolRunSettings.Default.AuditTimeout);

    /// <summary>
    /// Agent sessions: a shard region in cluster mode; otherwise they live under the gateway root in a
    /// <see cref="GenericChildPerEntityParent"/> using the same extractor (see <see cref="WithGatewayRoot"/>).
    /// </summary>
    public static AkkaConfigurationBuilder WithAgentSessions(this AkkaConfigurationBuilder builder, KruxOsSettings settings, IServiceProvider sp)
    {
        if (!settings.UseClustering) return builder;
        return builder.WithShardRegion<AgentSessionRegion>("agent-session",
            (_, registry, _) => entityId => AgentSessionActor.Props(entityId,
                SessionDependencies(settings, sp, registry.Get<AuditWriter>(), registry.Get<ApprovalRegion>())),
            new AgentSessionMessageExtractor(),
            new ShardOptions { StateStoreMode = StateStoreMode.DData, Role = GatewayRole, RememberEntities = false });
    }

    /// <summary>The gateway root and its node-local children; registers each in the ActorRegistry.</summary>
    public static AkkaConfigurationBuilder WithGatewayRoot(this AkkaConfigurationBuilder builder, KruxOsSettings settings, IServiceProvider sp)
    {
        var clock = sp.GetRequiredService<TimeProvider>();
        var directory = sp.GetRequiredService<IdentityDirectory>();

        // Cluster mode: the identity registry is a cluster singleton (Akka places its manager at /user/identity and
        // the proxy at /user/identity-proxy). It is registered before the root, whose identity replica needs the proxy.
        if (settings.UseClustering)
        {
            builder.WithSingleton<IdentityRegistry>("identity",
                (system, registry, _) => IdentityActor.Props(versioned =>
                {
                    directory.Publish(versioned.State);
                    DistributedPubSub.Get(system).Mediator.Tell(new Publish(IdentityReplicaActor.Topic, versioned));
                }, registry.Get<AgentSessionRegion>()),
                new ClusterSingletonOptions { Role = GatewayRole }, createProxyToo: true);
        }

        // The audit writer comes first: everything after it appends to it from its creation on (in cluster mode
        // the shard regions' entities find it through the registry).
        var auditWriter = AuditHostingExtensions.WriterChild(AuditOptionsFor(settings, sp), sp.GetService<AuditSinkOverride>());
        builder.WithActors((system, registry) =>
        {
            var children = ImmutableArray.CreateBuilder<GatewayChild>();
            children.Add(auditWriter);
            children.Add(new GatewayChild("host-metrics", _ => HostMetricsActor.Props(sp.GetRequiredService<HostMetrics>(), clock, settings.MetricsInterval)));
            children.Add(PolicyHostingExtensions.PolicyLoader(settings, sp));
            if (!settings.UseClustering)
            {
                children.Add(new GatewayChild("approvals", c => GenericChildPerEntityParent.Props(new ApprovalMessageExtractor(),
                    entityId => ApprovalActor.Props(entityId, ApprovalDependencies(settings, sp, c["audit"])))));
                children.Add(new GatewayChild("approval-index", c => ApprovalIndexActor.Props(sp.GetRequiredService<ApprovalIndex>(), c["approvals"], clock)));
                children.Add(new GatewayChild("agent-sessions", c => GenericChildPerEntityParent.Props(new AgentSessionMessageExtractor(),
                    entityId => AgentSessionActor.Props(entityId, SessionDependencies(settings, sp, c["audit"], c["approvals"])))));
                children.Add(new GatewayChild("identity", c => IdentityActor.Props(v => directory.Publish(v.State), c["agent-sessions"])));
                children.Add(new GatewayChild("connections", c => ConnectionsActor.Props(c["agent-sessions"], clock)));
            }
            else
            {
                // Node-local actors of a cluster node live under the root too; they reach the shard regions and the
                // identity singleton (which stay where Akka puts them) through the registry.
                var approvalRegion = registry.Get<ApprovalRegion>();
                var sessionRegion = registry.Get<AgentSessionRegion>();
                var identityProxy = registry.Get<IdentityRegistry>();
                children.Add(new GatewayChild("approval-index", _ => ApprovalIndexActor.Props(sp.GetRequiredService<ApprovalIndex>(), approvalRegion, clock)));
                children.Add(new GatewayChild("identity-replica", _ => IdentityReplicaActor.Props(directory, identityProxy)));
                children.Add(new GatewayChild("connections", _ => ConnectionsActor.Props(sessionRegion, clock)));
            }
            // After the sessions: watch events are delivered to the agent's session (local parent or shard region).
            // It also stops agents' sandboxes on this node: on request (kill, revoke; relayed to every node in a cluster)
            // and when the node's identity read model shows an agent revoked.
            children.Add(new GatewayChild("sandbox-housekeeping", c => SandboxHousekeepingActor.Props(sp.GetRequiredService<KruxOS.Sandbox.ISandbox>(),
                settings.DataDir, clock, c.TryGetValue("agent-sessions", out var sessions) ? sessions : registry.Get<AgentSessionRegion>(),
                directory, settings.UseClustering)));
            var root = system.ActorOf(GatewayRootActor.Props(children.ToImmutable(), (name, child) =>
            {
                switch (name)
                {
                    case AuditHostingExtensions.ActorName: registry.Register<AuditWriter>(child); break;
                    case PolicyHostingExtensions.LoaderName: registry.Register<PolicyStoreActor>(child); break;
                    case "agent-sessions": registry.Register<AgentSessionRegion>(child); break;
                    case "approvals": registry.Register<ApprovalRegion>(child); break;
                    case "identity": registry.Register<IdentityRegistry>(child); break;
                    case "connections": registry.Register<ConnectionRegistry>(child); break;
                    case "sandbox-housekeeping": registry.Register<SandboxHousekeeping>(child); break;
                }
            }), "gateway");
            registry.Register<GatewayRoot>(root);
        });
        return builder;
    }

    /// <summary>
    /// The audit writer's options: <see cref="KruxOsSettings.AuditDirectory"/> and <see cref="KruxOsSettings.Audit"/>,
    /// reporting to the node's <see cref="AuditAvailability"/>; an <see cref="IAuditFileSystem"/> registered in DI
    /// replaces the real files (fault tests).
    /// </summary>
    public static AuditOptions AuditOptionsFor(KruxOsSettings settings, IServiceProvider sp) => new()
    {
        Availability = sp.GetRequiredService<AuditAvailability>(),
        Directory = settings.AuditDirectory,
        FailMode = settings.Audit.FailMode,
        RingCapacity = settings.Audit.RingCapacity,
        RetryInterval = settings.Audit.RetryInterval,
        RetentionDays = settings.Audit.RetentionDays,
        RestartBackoffMin = settings.Audit.RestartBackoffMin,
        RestartBackoffMax = settings.Audit.RestartBackoffMax,
        FileSystem = sp.GetService<IAuditFileSystem>(),
        Clock = sp.GetService<TimeProvider>(),
    };

    private static AgentSessionDependencies SessionDependencies(KruxOsSettings settings, IServiceProvider sp, IActorRef audit, IActorRef approvals) =>
        new(sp.GetRequiredService<CapabilityCatalog>(), sp.GetRequiredService<IPolicySeam>(), sp.GetRequiredService<IdentityDirectory>(),
            audit, new ToolRunSettings(settings.ToolCallTimeout, ToolRunSettings.Default.AuditTimeout), settings.MaxConnectionsPerAgent,
            settings.SessionIdleTimeout, sp.GetRequiredService<TimeProvider>(), approvals, sp.GetRequiredService<ApprovalIndex>(), settings.ApprovalHoldTimeout,
            settings.Idempotency.Limits, sp.GetRequiredService<AuditAvailability>());
}
