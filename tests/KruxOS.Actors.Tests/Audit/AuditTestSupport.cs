using System.Text.Json;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>A clock the test moves by hand.</summary>
internal sealed class ManualClock(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;
    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>A temporary audit directory, deleted on dispose.</summary>
internal sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "kruxos-audit-" + Guid.NewGuid().ToString("N"));
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Real files whose writes or fsyncs can be told to fail.</summary>
internal sealed class FlakyFileSystem : IAuditFileSystem
{
    public bool FailSync { get => Volatile.Read(ref _failSync); set => Volatile.Write(ref _failSync, value); }
    public bool FailWrite { get => Volatile.Read(ref _failWrite); set => Volatile.Write(ref _failWrite, value); }
    private bool _failSync;
    private bool _failWrite;
    public int SyncCalls;

    /// <summary>The next this-many fsyncs fail (then they work again).</summary>
    public int FailNextSyncs;

    /// <summary>When set, every fsync waits until the gate opens (to hold a batch in flight).</summary>
    public ManualResetEventSlim? Gate { get; set; }

    public IAuditAppendFile OpenAppend(string path) => new File(this, PhysicalAuditFileSystem.Instance.OpenAppend(path));

    /// <summary>Directories fsynced, in order.</summary>
    public System.Collections.Concurrent.ConcurrentQueue<string> DirectorySyncs { get; } = new();

    /// <summary>Directory fsyncs fail while set.</summary>
    public bool FailDirectorySync { get => Volatile.Read(ref _failDirectorySync); set => Volatile.Write(ref _failDirectorySync, value); }
    private bool _failDirectorySync;

    public void SyncDirectory(string directory)
    {
        if (FailDirectorySync) throw new IOException("injected directory fsync failure (Input/output error)");
        PhysicalAuditFileSystem.Instance.SyncDirectory(directory);
        DirectorySyncs.Enqueue(directory);
    }

    private sealed class File(FlakyFileSystem owner, IAuditAppendFile inner) : IAuditAppendFile
    {
        public long Length => inner.Length;
        public void Append(ReadOnlySpan<byte> bytes)
        {
            if (owner.FailWrite) throw new IOException("injected write failure (No space left on device)");
            inner.Append(bytes);
        }
        public void Sync()
        {
            Interlocked.Increment(ref owner.SyncCalls);
            owner.Gate?.Wait(TimeSpan.FromSeconds(30));
            if (owner.FailSync || (Volatile.Read(ref owner.FailNextSyncs) > 0 && Interlocked.Decrement(ref owner.FailNextSyncs) >= 0)) throw new IOException("injected fsync failure (Input/output error)");
            inner.Sync();
        }
        public void Truncate(long length) => inner.Truncate(length);
        public void Dispose() => inner.Dispose();
    }
}

internal static class Drafts
{
    public static readonly DateTimeOffset T0 = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    public static AuditEntry Call(int n, string agent = "builder", string capability = "filesystem.read",
        AuditStatus status = AuditStatus.Success, string? session = "s-1", DateTimeOffset? at = null, long duration = 10) =>
        AuditEntry.Call(at ?? T0.AddSeconds(n), new Principal(PrincipalKind.Agent, agent), session,
            CapabilityName.Parse(capability),
            JsonDocument.Parse($$"""{"path":"/workspace/f{{n}}","password":"hunter2"}""").RootElement,
            status, $"summary {n}", new AuditPolicyDecision(Tier.Autonomous, "agent.default", 1), duration,
            client: new AuditClient("claude-code", "1.0"));

    /// <summary>Every record of every day file, in log order.</summary>
    public static List<AuditEntry> ReadAll(string dir)
    {
        var list = new List<AuditEntry>();
        foreach (var f in AuditDirectory.ListDayFiles(dir))
        {
            foreach (var frame in AuditDirectory.ReadFrames(f.Path, new TailHolder()))
                list.Add(AuditCbor.DecodeStored(frame.Payload));
        }
        return list;
    }
}
