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

/// <summary>
/// Replaces the node's audit writer with another actor that answers <see cref="AuditCommands.Append"/>
/// (register it in DI before <c>AddKruxOsActors</c>). For specs and benchmarks only: configuration
/// cannot turn auditing off.
/// </summary>
/// <param name="Props">Props of the replacement.</param>
public sealed record AuditSinkOverride(Akka.Actor.Props Props);
