using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.State.Snapshots;

/// <summary>
/// Snapshot ids: <c>snap-YYYYMMDDTHHMMSS</c> (UTC, the creation second), with <c>-2</c>, <c>-3</c> … when
/// several snapshots are taken in one second. An id is also the snapshot's file name, so only ids that
/// parse are ever turned into paths.
/// </summary>
public static partial class SnapshotIds
{
    /// <summary>The prefix.</summary>
    public const string Prefix = "snap-";

    /// <summary>Most snapshots distinguished within one second.</summary>
    public const int MaxPerSecond = 99;

    /// <summary>The id for a snapshot created at <paramref name="now"/> that is not in <paramref name="existing"/>; null when the second is used up.</summary>
    public static string? For(DateTimeOffset now, IEnumerable<string> existing)
    {
        ArgumentNullException.ThrowIfNull(existing);
        var taken = existing.ToHashSet(StringComparer.Ordinal);
        var id = Prefix + now.UtcDateTime.ToString("yyyyMMdd'T'HHmmss", CultureInfo.InvariantCulture);
        if (!taken.Contains(id)) return id;
        for (var n = 2; n <= MaxPerSecond; n++)
            if (!taken.Contains($"{id}-{n}")) return $"{id}-{n}";
        return null;
    }

    /// <summary>Parses an id strictly; <paramref name="second"/> is the UTC second it names.</summary>
    public static bool TryParse(string? text, out DateTimeOffset second)
    {
        second = default;
        if (text is null) return false;
        var m = Shape().Match(text);
        if (!m.Success) return false;
        if (!DateTime.TryParseExact(m.Groups["t"].Value, "yyyyMMdd'T'HHmmss", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
            return false;
        second = new DateTimeOffset(t, TimeSpan.Zero);
        return true;
    }

    [GeneratedRegex(@"^snap-(?<t>[0-9]{8}T[0-9]{6})(-([2-9]|[1-9][0-9]))?$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex Shape();
}

/// <summary>The gateway that took the snapshot.</summary>
public sealed record SnapshotGateway(string Version, string Node, long UptimeSeconds);

/// <summary>An agent (no token, no hash, no purpose text: only what identifies it and how it stands).</summary>
public sealed record SnapshotAgent(string Name, string Status, bool Paused, string PolicyGroup, DateTimeOffset CreatedAt, bool Connected, int Sessions);

/// <summary>A pending approval (never its arguments or reason).</summary>
public sealed record SnapshotPendingApproval(string RequestId, string Agent, string Capability, DateTimeOffset RequestedAt);

/// <summary>Approvals: counts by status and the pending requests (the oldest <see cref="SystemSnapshots.MaxPendingListed"/>).</summary>
public sealed record SnapshotApprovals(int Pending, int Approved, int Rejected, int TimedOut, int Expired, int Consumed,
    ImmutableArray<SnapshotPendingApproval> PendingRequests);

/// <summary>Alerts: counts only (alert texts are written by agents and visible only to their source and the operator).</summary>
public sealed record SnapshotAlerts(int Pending, int Acknowledged, int PendingCritical, int PendingWarning, int PendingInfo);

/// <summary>One service's health.</summary>
public sealed record SnapshotService(string Name, string Status, string Message);

/// <summary><c>overall_status</c> (healthy | degraded | unhealthy) and services.</summary>
public sealed record SnapshotHealth(string OverallStatus, ImmutableArray<SnapshotService> Services);

/// <summary>Host resources, in percent.</summary>
public sealed record SnapshotResources(double CpuPercent, double MemoryPercent, double DiskPercent);

/// <summary>One agent's persistent-state statistics.</summary>
public sealed record SnapshotAgentState(string Agent, int Keys, long UsedBytes, long LimitBytes);

/// <summary>Shared-state statistics.</summary>
public sealed record SnapshotSharedState(int Keys, long UsedBytes, long LimitBytes);

/// <summary>Session-state statistics of the live sessions.</summary>
public sealed record SnapshotSessionState(int Sessions, long UsedBytes);

/// <summary>State statistics: sizes and counts, never keys or values.</summary>
public sealed record SnapshotStateStatistics(ImmutableArray<SnapshotAgentState> Persistent, SnapshotSharedState Shared, SnapshotSessionState Session);

/// <summary>What the snapshot is made of, gathered by the caller from the services that own each part.</summary>
public sealed record SystemSnapshotInputs(
    SnapshotGateway Gateway,
    ImmutableArray<SnapshotAgent> Agents,
    SnapshotApprovals Approvals,
    SnapshotAlerts Alerts,
    SnapshotHealth Health,
    SnapshotResources Resources,
    SnapshotStateStatistics State);

/// <summary>
/// The document of <c>state.snapshot.create</c> / <c>load</c>: the whole system's state at one moment
/// (spec §8.15) — agents, approvals, alerts, health, resources and state statistics. It holds no secret,
/// token, approval argument, state key or value, and no alert or message text, because any agent may
/// load it (<c>state.snapshot.load</c> is autonomous).
/// </summary>
[WireName("state.snapshot.document.v1")]
public sealed record SystemSnapshot(
    string SnapshotId,
    DateTimeOffset Timestamp,
    int FormatVersion,
    SnapshotGateway Gateway,
    ImmutableArray<SnapshotAgent> Agents,
    SnapshotApprovals Approvals,
    SnapshotAlerts Alerts,
    SnapshotHealth Health,
    SnapshotResources Resources,
    SnapshotStateStatistics State) : IKruxMessage;

/// <summary>A kept snapshot: id, when, and the size of its file.</summary>
public sealed record SnapshotCatalogEntry(string SnapshotId, DateTimeOffset Timestamp, long SizeBytes);

/// <summary>Replies of <c>state.snapshot.*</c>.</summary>
public static class SnapshotReplies
{
    /// <summary><c>snapshot_id, timestamp, size_bytes</c>.</summary>
    [WireName("state.snapshot.create-result.v1")]
    public sealed record CreateResult(string SnapshotId, DateTimeOffset Timestamp, long SizeBytes) : IStateReply;

    /// <summary><c>snapshots[]{snapshot_id, timestamp, size_bytes}</c> newest first, <c>count</c>.</summary>
    [WireName("state.snapshot.list-result.v1")]
    public sealed record ListResult(ImmutableArray<SnapshotCatalogEntry> Snapshots, int Count) : IStateReply;

    /// <summary><c>snapshot</c>: the document.</summary>
    [WireName("state.snapshot.load-result.v1")]
    public sealed record LoadResult(StoredJson Snapshot) : IStateReply;
}

/// <summary>The snapshot a <c>create</c> produced: the document, its file bytes, and its catalog entry.</summary>
public sealed record CreatedSnapshot(SystemSnapshot Document, byte[] Bytes, SnapshotCatalogEntry Entry);

/// <summary>Pure functions of system snapshots.</summary>
public static class SystemSnapshots
{
    /// <summary>The document format written today.</summary>
    public const int FormatVersion = 1;

    /// <summary>Snapshots kept when nothing is configured (spec §18 row 29).</summary>
    public const int DefaultRetention = 20;

    /// <summary>Most pending approvals listed by name in one document (the count is always exact).</summary>
    public const int MaxPendingListed = 100;

    /// <summary>
    /// Builds the document of a snapshot taken at <paramref name="now"/>, in a deterministic order (agents by
    /// name, pending approvals oldest first, services by name), with its compact JSON (snake_case) as the
    /// file bytes. Refused with <c>IoError</c> only when the second has no free id left.
    /// </summary>
    public static (CreatedSnapshot? Snapshot, Errors.StructuredError? Error) Create(SystemSnapshotInputs inputs, DateTimeOffset now, IEnumerable<string> existingIds)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (SnapshotIds.For(now, existingIds) is not { } id)
            return (null, Errors.StructuredError.Create("IoError", $"More than {SnapshotIds.MaxPerSecond} snapshots were created within one second.", retryable: true)
                .RetryAfter(1).WithRecovery("retry", "Create the snapshot again in a second."));
        var timestamp = new DateTimeOffset(now.UtcDateTime.Ticks - now.UtcDateTime.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
        var approvals = inputs.Approvals with
        {
            PendingRequests = [.. (inputs.Approvals.PendingRequests.IsDefault ? [] : inputs.Approvals.PendingRequests)
                .OrderBy(a => a.RequestedAt).ThenBy(a => a.RequestId, StringComparer.Ordinal).Take(MaxPendingListed)],
        };
        var doc = new SystemSnapshot(id, timestamp, FormatVersion, inputs.Gateway,
            [.. OrEmpty(inputs.Agents).OrderBy(a => a.Name, StringComparer.Ordinal)],
            approvals,
            inputs.Alerts,
            inputs.Health with { Services = [.. OrEmpty(inputs.Health.Services).OrderBy(s => s.Name, StringComparer.Ordinal)] },
            inputs.Resources,
            inputs.State with { Persistent = [.. OrEmpty(inputs.State.Persistent).OrderBy(s => s.Agent, StringComparer.Ordinal)] });
        var bytes = JsonSerializer.SerializeToUtf8Bytes(doc, CoreJson.Options);
        return (new CreatedSnapshot(doc, bytes, new SnapshotCatalogEntry(id, timestamp, bytes.LongLength)), null);
    }

    /// <summary>The catalog, newest first (by time, then id).</summary>
    public static ImmutableArray<SnapshotCatalogEntry> NewestFirst(IEnumerable<SnapshotCatalogEntry> entries) =>
        [.. entries.OrderByDescending(e => e.Timestamp).ThenByDescending(e => e.SnapshotId, StringComparer.Ordinal)];

    /// <summary>The ids to delete so that only the <paramref name="keep"/> newest remain.</summary>
    public static ImmutableArray<string> Prune(IEnumerable<SnapshotCatalogEntry> entries, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keep);
        return [.. NewestFirst(entries).Skip(keep).Select(e => e.SnapshotId)];
    }

    /// <summary>The <c>list</c> reply.</summary>
    public static SnapshotReplies.ListResult List(IEnumerable<SnapshotCatalogEntry> entries)
    {
        var list = NewestFirst(entries);
        return new SnapshotReplies.ListResult(list, list.Length);
    }

    /// <summary>Checks a <c>snapshot_id</c> argument; null when it is well formed.</summary>
    public static Errors.StructuredError? ValidateId(string? snapshotId) =>
        SnapshotIds.TryParse(snapshotId, out _) ? null : Errors.Errors.InvalidInput("snapshot_id", "is not a snapshot id (snap-YYYYMMDDTHHMMSS)");

    private static IEnumerable<T> OrEmpty<T>(ImmutableArray<T> items) => items.IsDefault ? [] : items;
}
