using KruxOS.Actors.Hosting;

namespace KruxOS.Actors.Audit;

/// <summary>Hosting of the node's audit writer.</summary>
public static class AuditHostingExtensions
{
    /// <summary>The writer's name under the gateway root (<c>/user/gateway/audit</c>).</summary>
    public const string ActorName = "audit";

    /// <summary>
    /// The node's audit writer as a child of the gateway root (one per node), which registers it under
    /// <see cref="AuditWriter"/> (inject <c>IRequiredActor&lt;AuditWriter&gt;</c>). It goes first among the
    /// root's children, so it exists before anything that appends (approvals, agent sessions) is created.
    /// <paramref name="sink"/> (specs and benchmarks only) replaces the writer with another actor that answers
    /// <see cref="AuditCommands.Append"/>.
    /// <para>The root restarts the writer after every failure, without the limit its other children have: a writer
    /// that stayed down would leave the node unable to record anything. The writer paces itself (it backs off between
    /// restarts, refuses calls meanwhile, and keeps every entry not yet durable; see <see cref="AuditWriterActor"/>).</para>
    /// </summary>
    public static GatewayChild WriterChild(AuditOptions options, AuditSinkOverride? sink = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var props = sink?.Props ?? AuditWriterActor.Props(options); // Props validates the options
        return new GatewayChild(ActorName, _ => props, RestartsWithoutLimit: true);
    }
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
