using Akka.Hosting;

namespace KruxOS.Actors.Audit;

/// <summary>Hosting of the node's audit writer.</summary>
public static class AuditHostingExtensions
{
    /// <summary>
    /// Starts the audit writer (one per node, named <c>audit-writer</c>) and registers it under
    /// <see cref="AuditWriter"/>: inject <c>IRequiredActor&lt;AuditWriter&gt;</c>.
    /// </summary>
    public static AkkaConfigurationBuilder WithAuditWriter(this AkkaConfigurationBuilder builder, AuditOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        return builder.WithActors((system, registry) =>
            registry.Register<AuditWriter>(system.ActorOf(AuditWriterActor.Props(options), "audit-writer")));
    }
}
