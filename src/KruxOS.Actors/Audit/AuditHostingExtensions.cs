using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Audit;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Audit;

/// <summary>The audit area: the node's audit writer, its availability flag, its probe and the <c>audit</c> health check.</summary>
public static class AuditHostingExtensions
{
    /// <summary>The writer's name under the gateway root (<c>/user/gateway/audit</c>).</summary>
    public const string ActorName = "audit";

    /// <summary>The writer's creation order: first, so it exists before anything that appends (approvals, agent sessions).</summary>
    public const int Order = 0;

    /// <summary>
    /// The audit area. The writer is a node child registered under <see cref="AuditWriter"/> (inject
    /// <c>IRequiredActor&lt;AuditWriter&gt;</c>), with the options of <see cref="AuditOptionsFor"/>; an
    /// <see cref="AuditSinkOverride"/> in DI (specs and benchmarks only) replaces it.
    /// </summary>
    public static IServiceCollection AddAuditArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton<AuditProbe>();
        services.AddSingleton<AuditAvailability>();
        services.AddSingleton<OperatorAudit>();
        // Before the actor system (AddAkka), so it stops after it and waits for the writer's last batches.
        services.AddSingleton<AuditLogClosure>();
        services.AddHostedService<AuditLogCloser>();
        services.AddNodeChild(Writer(ctx => ctx.Services.GetService<AuditSinkOverride>()?.Props ?? AuditWriterActor.Props(AuditOptionsFor(ctx.Settings, ctx.Services))));
        services.AddHealthCheck("audit", sp => sp.GetRequiredService<AuditProbe>().CheckAsync);
        // Cluster-wide query and verification (ADR 0059): each node reads only its own directory, for the others to ask.
        services.AddSingleton(sp => new ClusterAuditAdmin(sp.GetRequiredService<Akka.Actor.ActorSystem>(), settings));
        services.AddNodeChild<AuditNodeReaderKey>(ClusterAuditAdmin.ReaderName, Order + 1,
            ctx => AuditNodeReaderActor.Props(Cluster.NodeId.Of(ctx.Settings), ctx.Settings.AuditDirectory), HostingModes.Cluster);
        return services;
    }

    /// <summary>
    /// The node's audit writer as a child of the gateway root (one per node), registered under <see cref="AuditWriter"/>.
    /// <paramref name="sink"/> (specs and benchmarks only) replaces the writer with another actor that answers
    /// <see cref="AuditCommands.Append"/>.
    /// <para>The root restarts the writer after every failure, without the limit its other children have: a writer
    /// that stayed down would leave the node unable to record anything. The writer paces itself (it backs off between
    /// restarts, refuses calls meanwhile, and keeps every entry not yet durable; see <see cref="AuditWriterActor"/>).</para>
    /// </summary>
    public static NodeChild WriterChild(AuditOptions options, AuditSinkOverride? sink = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var props = sink?.Props ?? AuditWriterActor.Props(options); // Props validates the options
        return Writer(_ => props);
    }

    private static NodeChild Writer(Func<HostingContext, Akka.Actor.Props> props) =>
        NodeChild.Of<AuditWriter>(ActorName, Order, props, restartsWithoutLimit: true);

    /// <summary>
    /// The audit writer's options: <see cref="KruxOsSettings.AuditDirectory"/> and <see cref="KruxOsSettings.Audit"/>,
    /// reporting to the node's <see cref="AuditAvailability"/>; an <see cref="IAuditFileSystem"/> registered in DI
    /// replaces the real files (fault tests).
    /// </summary>
    public static AuditOptions AuditOptionsFor(KruxOsSettings settings, IServiceProvider sp) => new()
    {
        Availability = sp.GetRequiredService<AuditAvailability>(),
        Closure = sp.GetRequiredService<AuditLogClosure>(),
        Directory = settings.AuditDirectory,
        FailMode = settings.Audit.FailMode,
        RingCapacity = settings.Audit.RingCapacity,
        RetryInterval = settings.Audit.RetryInterval,
        RetentionDays = settings.Audit.RetentionDays,
        RestartBackoffMin = settings.Audit.RestartBackoffMin,
        RestartBackoffMax = settings.Audit.RestartBackoffMax,
        FileSystem = sp.GetService<IAuditFileSystem>(),
        Clock = sp.GetService<TimeProvider>(),
        Node = settings.UseClustering ? Cluster.NodeId.Of(settings) : null,
    };
}

/// <summary>
/// Replaces the node's audit writer with another actor that answers <see cref="AuditCommands.Append"/>
/// (register it in DI before <c>AddKruxOsActors</c>). For specs and benchmarks only: configuration
/// cannot turn auditing off.
/// </summary>
/// <param name="Props">Props of the replacement.</param>
public sealed record AuditSinkOverride(Akka.Actor.Props Props);

/// <summary>
/// Whether the node's audit writer accepts new entries right now, readable without asking it. The writer
/// updates it whenever it halts (<c>fail_mode: halt</c>), fails and restarts (set before the next instance
/// exists), stops, fills its ring (or its queue) and recovers; the
/// pipeline reads it just before it executes a capability, so a call whose record the writer is already
/// refusing is refused <em>before</em> its side effect instead of after it. One per node (a DI singleton).
/// It narrows the window but cannot close it: the disk may fail between the check and the append
/// (docs/audit-format.md §5).
/// </summary>
public sealed class AuditAvailability
{
    private volatile string? _refusal;

    /// <summary>Why the writer refuses new entries now, or null while it accepts them.</summary>
    public string? Refusal => _refusal;

    /// <summary>Sets the current state; called by the audit writer (and by specs standing in for it).</summary>
    public void Update(string? refusal) => _refusal = refusal;
}
