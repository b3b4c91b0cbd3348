using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Hosting;
using Akka.Persistence.Hosting;
using Akka.Persistence.Sql.Hosting;
using Akka.Remote.Hosting;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Health;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Serialization;
using KruxOS.Core.Capabilities;
using Microsoft.Extensions.DependencyInjection;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Hosting;

/// <summary>Registry key of the node's connection parent.</summary>
public sealed class ConnectionRegistry;

/// <summary>Registry key of the node's gateway root.</summary>
public sealed class GatewayRoot;

/// <summary>
/// Composition of the actor layer: node services, the capabilities, the node's areas (<see cref="GatewayAreas"/>), the
/// ActorSystem with its network, persistence and serialization, and the gateway root. A new area never edits this file.
/// </summary>
public static class KruxOsHostingExtensions
{
    /// <summary>How long start-up waits for the gateway root to create its children.</summary>
    public static readonly TimeSpan RootStartTimeout = TimeSpan.FromMinutes(2);

    /// <summary>Registers the node services, the areas and the ActorSystem.</summary>
    public static IServiceCollection AddKruxOsActors(this IServiceCollection services, KruxOsSettings settings)
    {
        settings.Validate();
        // Created private (0700) when missing; the gateway host sets its final mode before this (DataDirectory.Secure).
        if (!Directory.Exists(settings.DataDir)) KruxOS.Sandbox.PrivateFiles.CreateDirectory(settings.DataDir);
        if (settings.Persistence.Provider == PersistenceProvider.Sqlite) SqliteJournal.PrepareFile(settings.SqlitePath);

        services.AddSingleton(settings);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new NodeFacts(settings.DataDir, sp.GetRequiredService<TimeProvider>().GetUtcNow(),
            typeof(KruxOsHostingExtensions).Assembly.GetName().Version?.ToString(3) ?? "0.0.0"));

        // Capabilities: the modules and the catalogue.
        services.AddBuiltInCapabilities(settings);

        // The call pipeline.
        services.AddCallPipeline(settings);

        // The node's areas: each registers its services, entities, node children, journal adapters and health checks.
        services.AddGatewayAreas(settings);

        services.AddAkka(KruxOsSettings.ActorSystemName, (builder, sp) => builder
            .ConfigureLoggers(logging =>
            {
                // Akka logs through Microsoft.Extensions.Logging, so one configuration governs every log line.
                logging.ClearLoggers();
                logging.AddLoggerFactory();
            })
            .ConfigureNetwork(settings)
            .ConfigurePersistence(settings, sp)
            .AddKruxSerialization()
            .WithHostedAreas(settings, sp));
        return services;
    }

    /// <summary>
    /// Remoting and clustering when <see cref="KruxOsSettings.UseClustering"/> is on; nothing otherwise. No seed nodes are
    /// given to Akka (its first seed would form a new cluster whenever it reaches no other): the node joins or forms through
    /// <see cref="Cluster.ClusterFormation"/> before anything else starts, and the split-brain resolver is the configured one.
    /// </summary>
    public static AkkaConfigurationBuilder ConfigureNetwork(this AkkaConfigurationBuilder builder, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        if (!settings.UseClustering) return builder;
        var lease = new Cluster.ClusterLeaseStore(settings.Persistence.Provider, settings.JournalConnectionString);
        return builder
            .WithRemoting(settings.Cluster.Hostname, settings.Cluster.Port)
            .WithClustering(new ClusterOptions { SeedNodes = [], Roles = [GatewayRole] })
            .AddHocon(Cluster.ClusterHocon.Downing(settings.Cluster), HoconAddMode.Prepend)
            .AddStartup(async (system, _) =>
            {
                using var stop = new CancellationTokenSource(settings.Cluster.FormationTimeout + TimeSpan.FromSeconds(30));
                await Cluster.ClusterFormation.JoinAsync(system, settings, lease, stop.Token).ConfigureAwait(false);
            });
    }

    /// <summary>The cluster role of gateway nodes.</summary>
    public const string GatewayRole = "gateway";

    /// <summary>
    /// The SQL journal and snapshot store (SQLite by default, PostgreSQL for clusters), with the event adapters the areas
    /// registered (<see cref="JournalAdapters.AddJournalEventAdapter{TAdapter}"/>).
    /// </summary>
    public static AkkaConfigurationBuilder ConfigurePersistence(this AkkaConfigurationBuilder builder, KruxOsSettings settings, IServiceProvider sp)
    {
        var adapters = sp.GetServices<JournalEventAdapter>().ToArray();
        void Adapters(AkkaPersistenceJournalBuilder journal)
        {
            foreach (var adapter in adapters) adapter.Apply(journal);
        }
        if (settings.Persistence.Provider != PersistenceProvider.Sqlite)
            return builder.WithSqlPersistence(settings.JournalConnectionString, LinqToDB.ProviderName.PostgreSQL15, autoInitialize: true, journalBuilder: Adapters);
        // SQLite: one writer, SQLite's own busy handler, and the plugin's indexes (see SqliteJournal).
        return builder
            .WithSqlPersistence(SqliteJournal.DataOptions(settings.JournalConnectionString), autoInitialize: true, journalBuilder: Adapters)
            .AddHocon(SqliteJournal.Settings(settings.JournalConnectionString), HoconAddMode.Prepend);
    }

    /// <summary>
    /// Hosts what the areas registered, for this node's mode. In a cluster, first the shard regions and singletons
    /// (<see cref="EntityHosting"/>), in order. Then the gateway root (<c>/user/gateway</c>, registered as
    /// <see cref="GatewayRoot"/>) creates the node children in order (<see cref="NodeChildren"/>), each registered under its
    /// key as it is created. Start-up completes once every child exists, and fails, naming the reason, when one cannot be
    /// created (for example because it needs a key registered after it).
    /// </summary>
    public static AkkaConfigurationBuilder WithHostedAreas(this AkkaConfigurationBuilder builder, KruxOsSettings settings, IServiceProvider sp)
    {
        var mode = settings.UseClustering ? HostingMode.Cluster : HostingMode.SingleNode;
        var children = NodeChildren.InCreationOrder(sp.GetServices<NodeChild>(), mode);
        if (mode == HostingMode.Cluster)
            foreach (var hosted in sp.GetServices<ClusterHosted>().OrderBy(h => h.Order)) hosted.Apply(builder, sp, settings);

        var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        builder.WithActors((system, registry) =>
        {
            var context = new HostingContext(system, sp.GetRequiredService<ActorRegistry>(), sp, settings);
            registry.Register<GatewayRoot>(system.ActorOf(GatewayRootActor.Props(children, context, created), "gateway"));
        });
        builder.AddStartup(async (_, _) => await created.Task.WaitAsync(RootStartTimeout).ConfigureAwait(false));
        return builder;
    }
}
