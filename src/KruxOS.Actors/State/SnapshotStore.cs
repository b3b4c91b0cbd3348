using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Errors;
using KruxOS.Core.State;
using KruxOS.Core.State.Snapshots;

namespace KruxOS.Actors.State;

/// <summary>
/// The node's system snapshots (<c>state.snapshot.*</c>): one compact JSON file per snapshot in
/// <c>{data_dir}/state/snapshots</c> (mode 0700, files 0600), named by its id. Only names that parse as snapshot ids
/// (<see cref="SnapshotIds"/>) are ever listed, opened or deleted, so an argument can never name another path; a
/// symbolic link or anything that is not a regular file is ignored. Creating is serialized on the node (one id per
/// snapshot, pruning to the newest <see cref="Retention"/>); a file is written under a temporary name and renamed, so
/// a crash never leaves a half-written snapshot under an id.
/// </summary>
public sealed class SnapshotStore
{
    /// <summary>Largest snapshot file that is loaded (below the 16 MiB frame, like every state reply).</summary>
    public const long MaxLoadBytes = 8L * 1024 * 1024;

    private const string Extension = ".json";
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>A store in <paramref name="directory"/> that keeps the newest <paramref name="retention"/> snapshots.</summary>
    public SnapshotStore(string directory, int retention)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(retention);
        Directory = directory;
        Retention = retention;
    }

    /// <summary>Where the files are.</summary>
    public string Directory { get; }

    /// <summary>Snapshots kept.</summary>
    public int Retention { get; }

    /// <summary>The kept snapshots (any order); <c>IoError</c> when the directory cannot be read.</summary>
    public (ImmutableArray<SnapshotCatalogEntry> Entries, StructuredError? Error) Entries()
    {
        try
        {
            return (Scan(), null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ([], IoError("list", e));
        }
    }

    /// <summary>
    /// Takes a snapshot: <paramref name="inputs"/> is called inside the node's create gate (so the document and its id are
    /// of one moment), the file is written and the oldest beyond <see cref="Retention"/> are deleted.
    /// </summary>
    public async Task<IStateReply> CreateAsync(Func<CancellationToken, Task<SystemSnapshotInputs>> inputs, TimeProvider clock, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(clock);
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var gathered = await inputs(ct).ConfigureAwait(false);
            PrivateStoreFiles.EnsureDirectory(Directory);
            var existing = Scan();
            var (created, refused) = SystemSnapshots.Create(gathered, clock.GetUtcNow(), existing.Select(e => e.SnapshotId));
            if (created is null) return new StateRefused(refused!);
            var final = PathOf(created.Entry.SnapshotId);
            var temporary = Path.Combine(Directory, $".tmp-{Guid.NewGuid():N}");
            try
            {
                await using (var file = new FileStream(temporary, PrivateStoreFiles.NewFile(FileAccess.Write)))
                {
                    await file.WriteAsync(created.Bytes, ct).ConfigureAwait(false);
                    file.Flush(flushToDisk: true);
                }
                File.Move(temporary, final, overwrite: false);
            }
            finally
            {
                if (File.Exists(temporary)) File.Delete(temporary);
            }
            foreach (var id in SystemSnapshots.Prune([.. existing, created.Entry], Retention))
                File.Delete(PathOf(id));
            return new SnapshotReplies.CreateResult(created.Entry.SnapshotId, created.Entry.Timestamp, created.Entry.SizeBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new StateRefused(IoError("create", e));
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// The document of <paramref name="snapshotId"/>: <c>InvalidInput</c> for anything that is not a snapshot id,
    /// <c>SnapshotNotFound</c> when no such regular file is kept.
    /// </summary>
    public async Task<IStateReply> LoadAsync(string? snapshotId, CancellationToken ct)
    {
        if (SystemSnapshots.ValidateId(snapshotId) is { } bad) return new StateRefused(bad);
        try
        {
            var info = new FileInfo(PathOf(snapshotId!));
            if (!PrivateStoreFiles.IsRegularFile(info)) return new StateRefused(StateErrors.SnapshotNotFound(snapshotId!));
            if (info.Length > MaxLoadBytes)
                return new StateRefused(StructuredError.Create("IoError", $"Snapshot '{snapshotId}' is larger than {MaxLoadBytes} bytes and cannot be loaded.")
                    .WithContext("snapshot_id", snapshotId!));
            byte[] bytes;
            await using (var file = new FileStream(info.FullName, FileMode.Open, FileAccess.Read, FileShare.Read))
            {
                if (file.Length > MaxLoadBytes) return new StateRefused(StateErrors.SnapshotNotFound(snapshotId!));
                bytes = new byte[file.Length];
                await file.ReadExactlyAsync(bytes, ct).ConfigureAwait(false);
            }
            using var doc = JsonDocument.Parse(bytes);
            return StoredJson.TryCreate(doc.RootElement, (int)MaxLoadBytes, out var stored, out var reason)
                ? new SnapshotReplies.LoadResult(stored)
                : new StateRefused(StructuredError.Create("IoError", $"Snapshot '{snapshotId}' is damaged: it {reason}.").WithContext("snapshot_id", snapshotId!));
        }
        catch (FileNotFoundException)
        {
            return new StateRefused(StateErrors.SnapshotNotFound(snapshotId!));
        }
        catch (JsonException)
        {
            return new StateRefused(StructuredError.Create("IoError", $"Snapshot '{snapshotId}' is damaged: it is not JSON.").WithContext("snapshot_id", snapshotId!));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new StateRefused(IoError("load", e));
        }
    }

    private ImmutableArray<SnapshotCatalogEntry> Scan()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        var entries = ImmutableArray.CreateBuilder<SnapshotCatalogEntry>();
        foreach (var info in new DirectoryInfo(Directory).EnumerateFiles(SnapshotIds.Prefix + "*" + Extension))
        {
            var id = info.Name[..^Extension.Length];
            if (!SnapshotIds.TryParse(id, out var second) || !PrivateStoreFiles.IsRegularFile(info)) continue;
            entries.Add(new SnapshotCatalogEntry(id, second, info.Length));
        }
        return entries.ToImmutable();
    }

    // Only ever called with an id that parsed.
    private string PathOf(string snapshotId) => Path.Combine(Directory, snapshotId + Extension);

    private static StructuredError IoError(string operation, Exception e) =>
        StructuredError.Create("IoError", $"The snapshot store could not {operation}: {e.GetType().Name}.", retryable: true)
            .WithRecovery("retry_later", "Try again later; the operator can check the gateway's data directory.");
}
