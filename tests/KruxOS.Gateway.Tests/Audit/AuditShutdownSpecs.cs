using System.Text.Json.Nodes;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary>
/// A graceful stop returns only when the audit log is closed: an entry whose batch the disk was still writing is on disk,
/// and no audit file (day file, index, its WAL) is held open any more. Before, the stop returned while the writer's disk
/// loop was still finishing in the background, so a process exiting right after could lose that batch, and the index's
/// WAL vanished from under a reader of the stopped node's directory.
/// </summary>
public sealed class AuditShutdownSpecs
{
    private static readonly TimeSpan SlowSync = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Should_return_from_a_graceful_stop_only_after_the_batch_being_written_is_durable_and_the_log_closed()
    {
        // arrange: a gateway whose audit disk can be made slow to fsync, with its log open
        var disk = new SlowDisk();
        await using var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton<IAuditFileSystem>(disk));
        var audit = gateway.Services.GetRequiredService<OperatorAudit>();
        var ct = TestContext.Current.CancellationToken;
        Assert.Null(await audit.RequestedAsync("spec", "operator.spec.before", new JsonObject(), ct));
        var directory = Path.Combine(gateway.DataDir, "audit");

        // act: an entry whose fsync is under way when the node is told to stop
        disk.Slow = true;
        var inFlight = audit.RequestedAsync("spec", "operator.spec.in_flight", new JsonObject(), ct);
        await disk.SyncStarted.Task.WaitAsync(TestTimeouts.Process, ct);
        await gateway.App.StopAsync(ct).WaitAsync(TestTimeouts.Process, ct);

        // assert: nothing of the log is still being written or held open, and the entry is on disk
        Assert.Equal(0, disk.SyncsUnderway);
        Assert.Empty(OpenFilesUnder(directory));
        // (before anything here reads the index: a reader of a WAL database creates the WAL again)
        Assert.False(File.Exists(AuditIndex.PathIn(directory) + "-wal"), "the index was not closed: its WAL is still there");
        var entries = await new AuditReader(directory).QueryAsync(new AuditQuery { Limit = 1000 }, ct);
        Assert.Contains(entries.Entries, v => v.Entry.Capability == "operator.spec.in_flight");
        Assert.True(AuditVerifier.VerifyDirectory(directory).IsIntact);
        _ = inFlight; // its requester was answered or not, as the stopping node allowed; what matters is the disk
    }

    private static List<string> OpenFilesUnder(string directory)
    {
        var open = new List<string>();
        foreach (var fd in Directory.EnumerateFileSystemEntries("/proc/self/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; } // closed while listed
            if (target is not null && target.StartsWith(directory + "/", StringComparison.Ordinal)) open.Add(target);
        }
        return open;
    }

    /// <summary>Real files whose fsyncs take <see cref="SlowSync"/> while <see cref="Slow"/> is set.</summary>
    private sealed class SlowDisk : IAuditFileSystem
    {
        private volatile bool _slow;
        private int _underway;

        public bool Slow { get => _slow; set => _slow = value; }

        public int SyncsUnderway => Volatile.Read(ref _underway);

        public TaskCompletionSource SyncStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public IAuditAppendFile OpenAppend(string path) => new File(this, PhysicalAuditFileSystem.Instance.OpenAppend(path));

        public void SyncDirectory(string directory) => PhysicalAuditFileSystem.Instance.SyncDirectory(directory);

        private sealed class File(SlowDisk disk, IAuditAppendFile inner) : IAuditAppendFile
        {
            public long Length => inner.Length;

            public void Append(ReadOnlySpan<byte> bytes) => inner.Append(bytes);

            public void Sync()
            {
                if (!disk.Slow)
                {
                    inner.Sync();
                    return;
                }
                Interlocked.Increment(ref disk._underway);
                disk.SyncStarted.TrySetResult();
                Thread.Sleep(SlowSync); // the disk loop's own thread: a slow device, as the writer sees one
                inner.Sync();
                Interlocked.Decrement(ref disk._underway);
            }

            public void Truncate(long length) => inner.Truncate(length);

            public void Dispose() => inner.Dispose();
        }
    }
}
