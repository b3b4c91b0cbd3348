using Akka.Actor;
using Akka.Hosting;
using KruxOS.Core.Audit;

namespace KruxOS.Actors.Audit;

/// <summary>
/// Appends one entry to the node's audit writer and waits for its answer: the one way edges and piped tasks (operator
/// changes, secret resolutions, the service proxy's own entries) make an entry durable before they act on it. It asks,
/// so it is never called on an actor's thread.
/// </summary>
public static class AuditAppend
{
    /// <summary>Null when the entry is durable (or held in the degrade ring, as for every call); otherwise why not.</summary>
    public static async Task<string?> AppendAcknowledgedAsync(this ActorRegistry registry, AuditEntry entry, TimeSpan timeout, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(entry);
        if (!registry.TryGet<AuditWriter>(out var writer)) return "the audit writer is not running";
        try
        {
            var answer = await writer.Ask<object>(replyTo => new AuditCommands.Append(entry, replyTo), timeout, ct).ConfigureAwait(false);
            return answer switch
            {
                AuditReplies.AuditAppended or AuditReplies.AuditBuffered => null,
                AuditReplies.AuditFailed f => f.Reason,
                _ => $"unexpected answer {answer.GetType().Name}",
            };
        }
        catch (AskTimeoutException)
        {
            return "the audit writer did not answer in time";
        }
    }
}
