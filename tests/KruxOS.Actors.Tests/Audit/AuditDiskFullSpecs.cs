using System.Diagnostics;
using Akka.Actor;
using Akka.TestKit.Xunit;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>
/// A real full disk: a 512 KiB tmpfs mounted by the test (needs root). The audit writer fills it,
/// degrades to the ring, and flushes everything once space is freed.
/// </summary>
public sealed class AuditDiskFullSpecs : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private const long MountBytes = 512 * 1024;
    private readonly string _mount = Path.Combine(Path.GetTempPath(), "kruxos-audit-tmpfs-" + Guid.NewGuid().ToString("N"));
    private readonly bool _mounted;
    private readonly string? _mountError;

    public AuditDiskFullSpecs(ITestOutputHelper output) : base(output: output)
    {
        Directory.CreateDirectory(_mount);
        (_mounted, _mountError) = Run("mount", $"-t tmpfs -o size={MountBytes} tmpfs {_mount}");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (!disposing) return;
        if (_mounted) Run("umount", _mount);
        try { Directory.Delete(_mount, recursive: true); } catch (IOException) { }
    }

    private static (bool Ok, string? Error) Run(string file, string args)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true, UseShellExecute = false })!;
            var err = p.StandardError.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode == 0, err);
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            return (false, ex.Message);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the SQLite index shares the full disk: it fails too and catches up from the files afterwards
    public async Task Should_degrade_on_a_full_disk_and_lose_nothing_once_space_is_freed(bool useIndex)
    {
        Assert.SkipUnless(_mounted, $"cannot mount a tmpfs here (needs root): {_mountError}");
        var ct = TestContext.Current.CancellationToken;
        var dir = Path.Combine(_mount, "audit");
        var writer = Sys.ActorOf(AuditWriterActor.Props(new AuditOptions
        {
            Directory = dir,
            RetryInterval = TimeSpan.FromMilliseconds(200),
            UseIndex = useIndex,
        }));
        var probe = CreateTestProbe();
        var sent = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            var d = Drafts.Call(i);
            sent.Add(d.Id);
            writer.Tell(new Append(d, probe));
            await probe.ExpectMsgAsync<AuditAppended>(Wait, cancellationToken: ct);
        }

        // fill the file system: only ever the small tmpfs, and never more than its size allows
        Assert.True(new DriveInfo(_mount).TotalSize <= MountBytes, $"{_mount} is not the {MountBytes}-byte tmpfs this spec mounted");
        var filler = Path.Combine(_mount, "filler");
        var full = false;
        await using (var f = new FileStream(filler, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0))
        {
            var chunk = new byte[4096];
            try { for (var written = 0L; written <= MountBytes; written += chunk.Length) f.Write(chunk); }
            catch (IOException) { full = true; /* ENOSPC */ }
        }
        Assert.True(full, "the tmpfs never reported ENOSPC");

        // appends now run into ENOSPC (the file's last page may take a few more first)
        object reply;
        var n = 5;
        do
        {
            var d = Drafts.Call(n++);
            sent.Add(d.Id);
            writer.Tell(new Append(d, probe));
            reply = await probe.ExpectMsgAsync<object>(Wait, cancellationToken: ct);
            Assert.True(reply is AuditAppended or AuditBuffered, $"unexpected reply {reply}");
        } while (reply is AuditAppended && n < 500);
        Assert.IsType<AuditBuffered>(reply);
        for (var i = 0; i < 20; i++)
        {
            var d = Drafts.Call(n++);
            sent.Add(d.Id);
            writer.Tell(new Append(d, probe));
            await probe.ExpectMsgAsync<AuditBuffered>(Wait, cancellationToken: ct);
        }
        var health = await writer.Ask<AuditHealth>(GetAuditHealth.Instance, Wait, ct);
        Assert.Equal(AuditHealthStatus.Degraded, health.Status);
        Assert.True(health.IsCritical);
        Assert.True(health.BufferedEntries >= 21, $"buffered {health.BufferedEntries}");

        File.Delete(filler);
        await AwaitAssertAsync(async () =>
            Assert.Equal(AuditHealthStatus.Healthy, (await writer.Ask<AuditHealth>(GetAuditHealth.Instance, Wait, ct)).Status),
            Wait, cancellationToken: ct);

        var entries = Drafts.ReadAll(dir);
        Assert.Equal(sent, entries.Select(e => e.Id));
        var report = AuditVerifier.VerifyDirectory(dir);
        Assert.True(report.IsIntact, report.Summary);
        if (useIndex)
        {
            // every entry reaches the index too (its inserts failed while the disk was full; it catches up from the files)
            await AwaitAssertAsync(() =>
            {
                using var index = AuditIndex.OpenReadOnly(dir)!;
                Assert.Equal(sent.Count, index.Find(new AuditQuery { Limit = 1 }, DateTimeOffset.UtcNow).Total);
            }, Wait, cancellationToken: ct);
        }
        await writer.GracefulStop(Wait);
    }
}
