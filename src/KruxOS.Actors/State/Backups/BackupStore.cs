using System.Collections.Immutable;
using KruxOS.Core.State.Backups;

namespace KruxOS.Actors.State.Backups;

/// <summary>
/// The node's backup files: <c>{data_dir}/backups/{backup_id}.kbak</c> (directory 0700, files 0600, owned by the gateway
/// user; agents run as other uids and cannot reach it). Only names that parse as backup ids (<see cref="BackupIds"/>) are
/// ever listed, opened or deleted, and only regular files (never a symbolic link, a directory or a device), so no
/// argument and nothing placed in the directory can make the gateway read or delete another path. A file is written under
/// a temporary name, flushed and renamed without overwrite.
/// </summary>
public sealed class BackupStore
{
    private readonly SemaphoreSlim _gate = new(1, 1);

    /// <summary>A store in <paramref name="directory"/> keeping the newest <paramref name="retention"/> backups.</summary>
    public BackupStore(string directory, int retention)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(retention);
        Directory = directory;
        Retention = retention;
    }

    /// <summary>Where the files are.</summary>
    public string Directory { get; }

    /// <summary>Backups kept.</summary>
    public int Retention { get; }

    /// <summary>The path of a kept backup; only ever called with an id that parsed.</summary>
    public string PathOf(string backupId) =>
        BackupIds.TryParse(backupId, out _) ? Path.Combine(Directory, backupId + BackupFormat.Extension) : throw new ArgumentException("not a backup id", nameof(backupId));

    /// <summary>
    /// The kept backups: regular files named by a parsing id whose header reads (its scope is shown; the header is
    /// authenticated only when the backup is opened). Throws <see cref="IOException"/> / <see cref="UnauthorizedAccessException"/>.
    /// </summary>
    public ImmutableArray<BackupCatalogEntry> Scan()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        var entries = ImmutableArray.CreateBuilder<BackupCatalogEntry>();
        foreach (var info in new DirectoryInfo(Directory).EnumerateFiles(BackupIds.Prefix + "*" + BackupFormat.Extension))
        {
            var id = info.Name[..^BackupFormat.Extension.Length];
            if (!BackupIds.TryParse(id, out var second) || !PrivateStoreFiles.IsRegularFile(info)) continue;
            var scope = "unknown";
            try
            {
                using var file = OpenRead(info.FullName);
                if (BackupFormat.ReadHeader(file).Header is { } header && header.BackupId == id) scope = header.Scope;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Listed as unknown; opening it will say why.
            }
            entries.Add(new BackupCatalogEntry(id, second, scope, info.Length));
        }
        return entries.ToImmutable();
    }

    /// <summary>The file of <paramref name="backupId"/> when it is a kept regular file, else null.</summary>
    public FileInfo? Find(string backupId)
    {
        var info = new FileInfo(PathOf(backupId));
        return PrivateStoreFiles.IsRegularFile(info) ? info : null;
    }

    /// <summary>Opens a kept file for reading without following a symbolic link in its last component.</summary>
    public static FileStream OpenRead(string path)
    {
        var info = new FileInfo(path);
        if (!PrivateStoreFiles.IsRegularFile(info)) throw new FileNotFoundException("not a kept backup file", path);
        return new FileStream(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, Options = FileOptions.SequentialScan });
    }

    /// <summary>
    /// Writes a new backup inside the store's gate: <paramref name="write"/> gets the id (unique among the kept ones) and a
    /// stream over a temporary file; the file is flushed and renamed to its id, then the oldest beyond <see cref="Retention"/>
    /// are deleted. Returns the id and the file size.
    /// </summary>
    public async Task<(string BackupId, long Size)> CreateAsync(DateTimeOffset now, Action<string, Stream> write, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(write);
        await _gate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            PrivateStoreFiles.EnsureDirectory(Directory);
            var existing = Scan();
            var id = BackupIds.For(now, existing.Select(e => e.BackupId))
                     ?? throw new IOException($"more than {BackupIds.MaxPerSecond} backups were created within one second");
            var final = PathOf(id);
            var temporary = Path.Combine(Directory, $".tmp-{Guid.NewGuid():N}");
            long size;
            try
            {
                await using (var file = new FileStream(temporary, PrivateStoreFiles.NewFile(FileAccess.ReadWrite)))
                {
                    write(id, file);
                    file.Flush(flushToDisk: true);
                    size = file.Length;
                }
                File.Move(temporary, final, overwrite: false);
            }
            finally
            {
                if (File.Exists(temporary)) File.Delete(temporary);
            }
            BackupIds.TryParse(id, out var second);
            foreach (var old in BackupCatalog.Prune([.. existing, new BackupCatalogEntry(id, second, "", size)], Retention))
                if (Find(old) is { } doomed) doomed.Delete();
            return (id, size);
        }
        finally
        {
            _gate.Release();
        }
    }
}
