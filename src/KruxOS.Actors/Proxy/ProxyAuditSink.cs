using Akka.Hosting;
using KruxOS.Actors.Audit;
using KruxOS.Core.Audit;

namespace KruxOS.Actors.Proxy;

/// <summary>
/// Appends the proxy's own audit entries (credential uses, operator changes) to the node's audit writer and waits for
/// its answer. For edges and piped tasks only (it asks); never called on an actor's thread.
/// </summary>
public sealed class ProxyAuditSink(ActorRegistry registry)
{
    /// <summary>How long an entry waits for the writer.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>Null when the entry is durable (or held in the degrade ring); otherwise why not.</summary>
    public Task<string?> AppendAsync(AuditEntry entry, CancellationToken ct) => registry.AppendAcknowledgedAsync(entry, Timeout, ct);
}
