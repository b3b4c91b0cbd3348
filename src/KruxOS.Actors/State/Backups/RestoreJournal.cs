using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using KruxOS.Audit;
using KruxOS.Core;
using KruxOS.Core.State.Backups;

namespace KruxOS.Actors.State.Backups;

/// <summary>Where the put-back of an interrupted restore stands on this node (health, and whether a restore may start).</summary>
public enum RestoreRecoveryStatus
{
    /// <summary>No undo log: nothing to put back.</summary>
    Clear,

    /// <summary>An undo log is on disk and has not been put back yet (at start-up, or after a put-back that failed).</summary>
    Pending,

    /// <summary>Putting it back failed (a critical alert was raised); the log is kept and tried again at the next start.</summary>
    Failed,
}

/// <summary>An undo log read back whole: its header and the put-back steps in the order the restore would have written them.</summary>
public sealed record RestoreUndoContents(RestoreUndoHeader Header, ImmutableArray<Core.State.Backups.RestoreStep> Undo);

/// <summary>
/// The durable undo log of a restore (ADR 0060, "Crash during a restore"): <c>{data_dir}/state/restore/undo.jsonl</c>, in a
/// directory only the gateway user can enter (0700), the file 0600 and created new. One JSON document per line — the
/// header, one line per part (its pre-image), the end mark — streamed to a temporary file, fsynced, renamed into place and
/// the directory fsynced, all before the restore's first write. Removed (rename aside, fsync, delete) once the restore
/// succeeded or its put-back completed. A log found at start-up is read strictly (<see cref="RestoreUndoLog"/>) and put back
/// by <see cref="RestoreRecovery"/>. Only one restore at a time writes it (the backup service's gate).
/// </summary>
public sealed class RestoreJournal
{
    /// <summary>The log's file name.</summary>
    public const string FileName = "undo.jsonl";

    private static readonly JsonSerializerOptions Strict = new(CoreJson.Options)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        // A field another operation does not use is absent (a JSON null is a value: a shared key may hold null).
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };

    private int _status;

    /// <summary>A journal in <paramref name="directory"/>; pending when a log is already there (a restore was interrupted).</summary>
    public RestoreJournal(string directory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(directory);
        Directory = directory;
        _status = (int)(Exists ? RestoreRecoveryStatus.Pending : RestoreRecoveryStatus.Clear);
    }

    /// <summary>The directory.</summary>
    public string Directory { get; }

    /// <summary>The log's path.</summary>
    public string PathName => Path.Combine(Directory, FileName);

    /// <summary>Whether anything is at the log's name (a regular file or not: anything there is pending and read strictly).</summary>
    public bool Exists => File.Exists(PathName) || System.IO.Directory.Exists(PathName) || new FileInfo(PathName).LinkTarget is not null;

    /// <summary>Where the put-back of an interrupted restore stands.</summary>
    public RestoreRecoveryStatus Status
    {
        get => (RestoreRecoveryStatus)Volatile.Read(ref _status);
        internal set => Volatile.Write(ref _status, (int)value);
    }

    /// <summary>
    /// Writes the undo log of a restore before its first write: streamed line by line to a new temporary file, fsynced,
    /// renamed to <see cref="FileName"/> (never over an existing log) and the directory fsynced. Throws
    /// <see cref="IOException"/> / <see cref="UnauthorizedAccessException"/>; then no log is left and nothing was written.
    /// </summary>
    public void Write(string backupId, DateTimeOffset startedAt, IReadOnlyList<Core.State.Backups.RestoreStep> undo)
    {
        ArgumentNullException.ThrowIfNull(undo);
        PrivateStoreFiles.EnsureDirectory(Directory);
        var temporary = Path.Combine(Directory, $".tmp-{Guid.NewGuid():N}");
        try
        {
            using (var file = new FileStream(temporary, PrivateStoreFiles.NewFile(FileAccess.Write)))
            {
                WriteLine(file, RestoreUndoLog.Header(backupId, startedAt, undo.Count));
                for (var i = 0; i < undo.Count; i++) WriteLine(file, RestoreUndoLog.ToPart(i, undo[i]));
                WriteLine(file, new RestoreUndoEnd(RestoreUndoLog.EndMark, undo.Count));
                file.Flush(flushToDisk: true);
            }
            File.Move(temporary, PathName, overwrite: false);
            PhysicalAuditFileSystem.Instance.SyncDirectory(Directory);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>
    /// Removes the log: renamed aside (one atomic step: from then on no start-up puts it back), the directory fsynced, then
    /// deleted. Throws <see cref="IOException"/> / <see cref="UnauthorizedAccessException"/> when the rename fails (the log
    /// is still in place).
    /// </summary>
    public void Remove()
    {
        var aside = Path.Combine(Directory, $".done-{Guid.NewGuid():N}");
        File.Move(PathName, aside, overwrite: false);
        PhysicalAuditFileSystem.Instance.SyncDirectory(Directory);
        File.Delete(aside);
        Status = RestoreRecoveryStatus.Clear;
    }

    /// <summary>Deletes leftovers of earlier lives (temporary and removed logs), which are never read.</summary>
    public void SweepLeftovers()
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        foreach (var info in new DirectoryInfo(Directory).EnumerateFiles(".*"))
            if ((info.Name.StartsWith(".tmp-", StringComparison.Ordinal) || info.Name.StartsWith(".done-", StringComparison.Ordinal)) && PrivateStoreFiles.IsRegularFile(info))
                info.Delete();
    }

    /// <summary>
    /// Reads the log strictly: a regular file, not readable or writable by anyone but its owner, header first, every part
    /// in order and well formed, the end mark last, nothing after it. Any deviation refuses the whole log (the reason is
    /// returned, the file is left in place). Throws <see cref="IOException"/> / <see cref="UnauthorizedAccessException"/>.
    /// </summary>
    public async Task<(RestoreUndoContents? Contents, string? Error)> ReadAsync(CancellationToken ct)
    {
        var info = new FileInfo(PathName);
        if (!PrivateStoreFiles.IsRegularFile(info)) return (null, "it is not a regular file");
        if (!OperatingSystem.IsWindows() && (info.UnixFileMode & ~(UnixFileMode.UserRead | UnixFileMode.UserWrite)) != 0)
            return (null, $"its mode is {Convert.ToString((int)info.UnixFileMode, 8)}, not 600 (it is not one this gateway wrote)");
        await using var stream = new FileStream(PathName, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, Options = FileOptions.SequentialScan });
        RestoreUndoHeader? header = null;
        var steps = ImmutableArray.CreateBuilder<Core.State.Backups.RestoreStep>();
        var line = 0;
        var ended = false;
        try
        {
            await foreach (var element in JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(stream, topLevelValues: true, Strict, ct).ConfigureAwait(false))
            {
                if (ended) return (null, "there is more after the end line");
                if (element.ValueKind != JsonValueKind.Object) return (null, $"line {line + 1} is not an object");
                if (line == 0)
                {
                    header = element.Deserialize<RestoreUndoHeader>(Strict);
                    if (RestoreUndoLog.CheckHeader(header) is { } bad) return (null, bad);
                }
                else if (line <= header!.Parts)
                {
                    var (step, bad) = RestoreUndoLog.FromPart(line - 1, element.Deserialize<RestoreUndoPart>(Strict));
                    if (step is null) return (null, bad);
                    steps.Add(step);
                }
                else
                {
                    if (RestoreUndoLog.CheckEnd(element.Deserialize<RestoreUndoEnd>(Strict), header.Parts) is { } bad) return (null, bad);
                    ended = true;
                }
                line++;
            }
        }
        catch (JsonException e)
        {
            return (null, $"line {line + 1} does not parse: {e.Message}");
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidOperationException or NotSupportedException)
        {
            return (null, $"line {line + 1} is refused: {e.GetType().Name}");
        }
        if (header is null) return (null, "the log is empty");
        if (!ended) return (null, RestoreUndoLog.CheckEnd(null, header.Parts));
        return (new RestoreUndoContents(header, steps.ToImmutable()), null);
    }

    private static void WriteLine<T>(FileStream file, T value)
    {
        JsonSerializer.Serialize(file, value, Strict);
        file.WriteByte((byte)'\n');
    }
}
