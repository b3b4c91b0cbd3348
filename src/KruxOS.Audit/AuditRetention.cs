using System.Text.Json;
using KruxOS.Core.Audit;

namespace KruxOS.Audit;

/// <summary>Outcome of a retention run.</summary>
/// <param name="Deleted">Day files deleted (oldest first).</param>
/// <param name="Warnings">Operator warnings (files about to expire, deletion postponed).</param>
/// <param name="FirstDeletionNotBefore">When the first deletion may happen, while the 7-day warning runs.</param>
public sealed record RetentionResult(IReadOnlyList<string> Deleted, IReadOnlyList<string> Warnings, DateTimeOffset? FirstDeletionNotBefore);

/// <summary>
/// Retention (<c>audit.retention_days</c>, default 90; run daily at 03:00 UTC and by <c>kruxos audit rotate</c>).
/// <list type="bullet">
/// <item>A day file expires when its day is older than <c>today − retention_days</c>; today's file is never deleted.</item>
/// <item>7-day warning: the first time files are within 7 days of expiring, a warning is given and its time
/// recorded in <c>audit-retention.json</c>; nothing is deleted until 7 days after that first warning.
/// Later runs warn about files expiring within 7 days.</item>
/// <item>Before a file is deleted, a line <c>{"file","last_hash","entries"}</c> is appended to
/// <c>audit-anchors.jsonl</c> and synced; verification of the remaining files starts from the newest
/// anchor older than the oldest remaining file, so the chain stays verifiable. Index rows of deleted
/// files are removed.</item>
/// </list>
/// </summary>
public static class AuditRetention
{
    /// <summary>Default retention.</summary>
    public const int DefaultRetentionDays = 90;

    /// <summary>Length of the warning period.</summary>
    public static readonly TimeSpan WarningPeriod = TimeSpan.FromDays(7);

    private sealed record State(DateTimeOffset? FirstWarningAt);

    /// <summary>
    /// Applies retention to <paramref name="directory"/> at time <paramref name="now"/>. <paramref name="fs"/>
    /// syncs the directory when the anchor file is created (<b>Default</b>: real files).
    /// </summary>
    public static RetentionResult Run(string directory, int retentionDays, DateTimeOffset now, IAuditFileSystem? fs = null)
    {
        if (retentionDays < 1) throw new ArgumentOutOfRangeException(nameof(retentionDays), "retention must be at least one day");
        var today = DateOnly.FromDateTime(now.UtcDateTime);
        var cutoff = today.AddDays(-retentionDays);
        var files = AuditDirectory.ListDayFiles(directory).Where(f => f.Day < today).ToList();
        var expired = files.Where(f => f.Day < cutoff).ToList();
        var soon = files.Where(f => f.Day >= cutoff && f.Day < cutoff.AddDays(7)).ToList();
        var warnings = new List<string>();
        var statePath = Path.Combine(directory, AuditFileNames.RetentionState);
        var state = File.Exists(statePath)
            ? JsonSerializer.Deserialize<State>(File.ReadAllText(statePath), AuditDirectory.AnchorJson) ?? new State(null)
            : new State(null);
        var anyDeletedBefore = AuditDirectory.ReadAnchors(directory).Count > 0;

        if ((soon.Count > 0 || expired.Count > 0) && state.FirstWarningAt is null)
        {
            state = new State(now);
            using (var stateFile = new FileStream(statePath, AuditFileModes.Options(FileMode.Create, FileAccess.Write)))
            using (var writer = new StreamWriter(stateFile)) writer.Write(JsonSerializer.Serialize(state, AuditDirectory.AnchorJson));
        }
        foreach (var f in soon)
        {
            warnings.Add($"audit file {f.Name} will be deleted on {f.Day.AddDays(retentionDays + 1):yyyy-MM-dd} (retention {retentionDays} days)");
        }

        DateTimeOffset? notBefore = null;
        if (expired.Count > 0 && !anyDeletedBefore && now - state.FirstWarningAt!.Value < WarningPeriod)
        {
            notBefore = state.FirstWarningAt.Value + WarningPeriod;
            warnings.Add($"{expired.Count} expired audit file(s) kept until {notBefore:yyyy-MM-dd HH:mm}Z: first deletion waits 7 days after the first warning");
            return new RetentionResult([], warnings, notBefore);
        }

        if (expired.Count == 0) return new RetentionResult([], warnings, null);

        // Anchor every file first (one synced append), then delete: a crash in between leaves anchored
        // files that are still present, which verification handles.
        var anchorPath = Path.Combine(directory, AuditFileNames.Anchors);
        var anchorsCreated = !File.Exists(anchorPath);
        using (var anchors = new FileStream(anchorPath, AuditFileModes.Options(FileMode.Append, FileAccess.Write)))
        using (var w = new StreamWriter(anchors))
        {
            foreach (var f in expired)
            {
                var (last, count, _) = AuditDirectory.ScanLast(f.Path);
                if (last is null) continue;
                w.WriteLine(JsonSerializer.Serialize(new RetentionAnchor(f.Name, Convert.ToHexStringLower(last), count), AuditDirectory.AnchorJson));
            }
            w.Flush();
            anchors.Flush(flushToDisk: true);
        }
        // A new anchor file is durable only with its directory entry: without it the files below could be
        // gone after a crash while their anchors are too.
        if (anchorsCreated) (fs ?? PhysicalAuditFileSystem.Instance).SyncDirectory(directory);
        foreach (var f in expired) File.Delete(f.Path);
        try
        {
            using var index = AuditIndex.Open(directory);
            index.RemoveFiles(expired.Select(f => f.Name));
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            warnings.Add($"index rows of deleted files not removed ({ex.SqliteErrorCode}); rebuild the index");
        }
        return new RetentionResult([.. expired.Select(f => f.Name)], warnings, null);
    }
}
