using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Audit;

/// <summary>
/// The node's audit work that outlives the actors which started it: a disk loop still writing the batches it was given
/// and then closing the day file and the index, an open that finishes after its writer stopped, a retention run or a
/// verification still reading. A stopping node waits for all of it (<see cref="AuditLogCloser"/>), so a graceful stop
/// returns with every submitted entry on disk and no audit file held open.
/// </summary>
public sealed class AuditLogClosure
{
    private readonly Lock _gate = new();
    private readonly List<Task> _running = [];

    /// <summary>Records background audit work; its outcome does not matter here, only that it ended.</summary>
    public void Track(Task work)
    {
        ArgumentNullException.ThrowIfNull(work);
        lock (_gate)
        {
            _running.RemoveAll(static t => t.IsCompleted);
            _running.Add(work);
        }
    }

    /// <summary>Completes when everything tracked so far has ended (successfully or not).</summary>
    public Task WhenEnded()
    {
        lock (_gate)
            return Task.WhenAll(_running.Select(static t => t.ContinueWith(static _ => { }, TaskScheduler.Default)));
    }
}

/// <summary>
/// Holds the host's stop until the audit log is closed. Registered before the actor system, so it stops after it: by
/// then the writer has stopped and handed its last batches to the disk loop, and this waits for the loop to finish them.
/// The host's shutdown timeout bounds the wait (a hung disk cannot hold the stop forever; what it had not written is
/// logged as lost from the graceful stop, as a crash would lose it).
/// </summary>
internal sealed class AuditLogCloser(AuditLogClosure closure, ILogger<AuditLogCloser> log) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await closure.WhenEnded().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            log.LogError("The host's shutdown timeout ran out before the audit log was closed; entries still being written may be missing from it");
        }
    }
}
