using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Shared;

namespace KruxOS.Core.State.Backups;

/// <summary>
/// Backup ids (<c>bkp-YYYYMMDDTHHMMSS</c>, <c>-2</c>… within one second). Only an id that parses is ever turned into a file
/// name, so a <c>backup_id</c> argument can never name another path.
/// </summary>
public static partial class BackupIds
{
    /// <summary>The prefix.</summary>
    public const string Prefix = "bkp-";

    /// <summary>Most backups distinguished within one second.</summary>
    public const int MaxPerSecond = 99;

    /// <summary>The longest id.</summary>
    public const int MaxLength = 23;

    /// <summary>The id for a backup created at <paramref name="now"/> not in <paramref name="existing"/>; null when the second is used up.</summary>
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
        if (text is null || text.Length > MaxLength) return false;
        var m = Shape().Match(text);
        if (!m.Success) return false;
        if (!DateTime.TryParseExact(m.Groups["t"].Value, "yyyyMMdd'T'HHmmss", CultureInfo.InvariantCulture,
                DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
            return false;
        second = new DateTimeOffset(t, TimeSpan.Zero);
        return true;
    }

    /// <summary><c>InvalidInput</c> for anything that is not a backup id, else null.</summary>
    public static StructuredError? Validate(string? text) => TryParse(text, out _)
        ? null
        : Errors.Errors.InvalidInput("backup_id", "is not a backup id (bkp-YYYYMMDDTHHMMSS, from state.backup.list)");

    [GeneratedRegex(@"^bkp-(?<t>[0-9]{8}T[0-9]{6})(-([2-9]|[1-9][0-9]))?$", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex Shape();
}

/// <summary>What a backup holds: every agent's state and shared state (<c>full</c>), or one agent's (<c>agent:&lt;name&gt;</c>).</summary>
public readonly record struct BackupScope
{
    private BackupScope(AgentName? agent) => Agent = agent;

    /// <summary>The agent of an agent backup; null for a full backup.</summary>
    public AgentName? Agent { get; }

    /// <summary>True for a full backup (every agent and shared state).</summary>
    public bool IsFull => Agent is null;

    /// <summary>A full backup.</summary>
    public static BackupScope Full => new(null);

    /// <summary>One agent's backup.</summary>
    public static BackupScope ForAgent(AgentName agent) => new(agent);

    /// <summary><c>full</c> or <c>agent:&lt;name&gt;</c>.</summary>
    public override string ToString() => Agent is { } a ? "agent:" + a.Value : "full";

    /// <summary>Parses <c>full</c> or <c>agent:&lt;name&gt;</c>.</summary>
    public static bool TryParse(string? text, out BackupScope scope)
    {
        scope = Full;
        if (text == "full") return true;
        if (text is null || !text.StartsWith("agent:", StringComparison.Ordinal)) return false;
        if (!AgentName.TryParse(text["agent:".Length..], out var agent, out _)) return false;
        scope = ForAgent(agent);
        return true;
    }
}

/// <summary>One shared key as backed up: its value, version and last writer.</summary>
/// <param name="Key">The key.</param>
/// <param name="Version">Its version when backed up.</param>
/// <param name="Value">The value.</param>
/// <param name="Writer">The last writer.</param>
/// <param name="UpdatedAt">When that version was written.</param>
public sealed record BackedUpSharedEntry(string Key, long Version, StoredJson Value, Principal Writer, DateTimeOffset UpdatedAt);

/// <summary>
/// The plaintext of a backup: each agent's persistent state exactly as stored (every retained version), and for a full
/// backup every shared key. Read back only after the file authenticated; still checked like any snapshot.
/// </summary>
/// <param name="FormatVersion">1.</param>
/// <param name="Scope"><c>full</c> or <c>agent:&lt;name&gt;</c>.</param>
/// <param name="Agents">Persistent state per agent, ordinal by name.</param>
/// <param name="Shared">Shared keys (full backups), ordinal by key; empty for an agent backup.</param>
[WireName("state.backup.contents.v1")]
public sealed record BackupContents(int FormatVersion, string Scope, ImmutableArray<PersistentStateSnapshot> Agents, ImmutableArray<BackedUpSharedEntry> Shared)
    : IKruxMessage
{
    /// <summary>Why these contents cannot be restored (a key that is not a key, an agent twice, versions out of order), or null.</summary>
    public string? Error()
    {
        if (FormatVersion != BackupFormat.ContentsVersion) return $"contents format version {FormatVersion} is not supported";
        if (!BackupScope.TryParse(Scope, out var scope)) return "the scope is not 'full' or 'agent:<name>'";
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var a in Agents.IsDefault ? [] : Agents)
        {
            if (a is null || !names.Add(a.Agent.Value)) return "an agent appears twice";
            if (!scope.IsFull && a.Agent != scope.Agent) return "an agent backup holds another agent's state";
            try { PersistentState.FromSnapshot(a); }
            catch (InvalidDataException e) { return e.Message; }
        }
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in Shared.IsDefault ? [] : Shared)
        {
            if (!scope.IsFull) return "an agent backup holds shared state";
            if (s is null || StateKeys.Validate(s.Key) is not null || s.Version < 1 || s.Value is null || s.Writer is null || !keys.Add(s.Key))
                return "a shared entry is invalid or appears twice";
        }
        return null;
    }
}

/// <summary>One kept backup as listed (from its file name, size and authenticated-on-write header; never decrypted to list).</summary>
/// <param name="BackupId">The id.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="Scope"><c>full</c> or <c>agent:&lt;name&gt;</c>.</param>
/// <param name="FileSizeBytes">Size of the encrypted file.</param>
public sealed record BackupCatalogEntry(string BackupId, DateTimeOffset CreatedAt, string Scope, long FileSizeBytes);

/// <summary>The output records of <c>state.backup.*</c> (snake_case as spec §8.15).</summary>
public static class BackupReplies
{
    /// <summary><c>backup_id, created_at, file_size_bytes, scope</c>.</summary>
    [WireName("state.backup.create-result.v1")]
    public sealed record CreateResult(string BackupId, DateTimeOffset CreatedAt, long FileSizeBytes, string Scope) : IStateReply;

    /// <summary><c>backups[]{backup_id, created_at, scope, file_size_bytes}</c> newest first, <c>count</c>.</summary>
    [WireName("state.backup.list-result.v1")]
    public sealed record ListResult(ImmutableArray<BackupCatalogEntry> Backups, int Count) : IStateReply;

    /// <summary><c>restored, agents_restored[], shared_state_restored</c> (+ what was restored, counted).</summary>
    [WireName("state.backup.restore-result.v1")]
    public sealed record RestoreResult(bool Restored, ImmutableArray<string> AgentsRestored, bool SharedStateRestored, int PersistentKeys, int SharedKeys) : IStateReply;

    /// <summary><c>exported_path, size_bytes</c>.</summary>
    [WireName("state.backup.export-result.v1")]
    public sealed record ExportResult(string ExportedPath, long SizeBytes) : IStateReply;
}

/// <summary>Pure decisions about kept backups: listing order, retention, who may use which backup.</summary>
public static class BackupCatalog
{
    /// <summary>Backups kept by default (spec §18 row 29: a month of nightly backups).</summary>
    public const int DefaultRetention = 30;

    /// <summary>Newest first (time, then id).</summary>
    public static ImmutableArray<BackupCatalogEntry> NewestFirst(IEnumerable<BackupCatalogEntry> entries) =>
        [.. entries.OrderByDescending(e => e.CreatedAt).ThenByDescending(e => e.BackupId, StringComparer.Ordinal)];

    /// <summary>The ids to delete so that only the <paramref name="keep"/> newest remain.</summary>
    public static ImmutableArray<string> Prune(IEnumerable<BackupCatalogEntry> entries, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(keep);
        return [.. NewestFirst(entries).Skip(keep).Select(e => e.BackupId)];
    }

    /// <summary>
    /// Whether <paramref name="agent"/> sees a backup of <paramref name="scope"/>: its own backups and full ones. Another
    /// agent's backup is invisible (listing omits it; every other operation answers <c>BackupNotFound</c>).
    /// </summary>
    public static bool VisibleTo(AgentName agent, string scope) =>
        BackupScope.TryParse(scope, out var s) && (s.IsFull || s.Agent == agent);

    /// <summary>
    /// What an agent's <c>state.backup.restore</c> restores: only the caller's own persistent state, from its own
    /// backup or its part of a full one. Shared state is restored by the operator only (it holds other agents' keys).
    /// <paramref name="requested"/> (the <c>agent</c> argument) must be the caller or absent.
    /// </summary>
    public static StructuredError? AgentRestoreRefusal(AgentName caller, string? requested) =>
        requested is null || requested == caller.Value
            ? null
            : BackupErrors.PermissionDenied("restore", "An agent restores only its own state; the operator restores other agents' state (kruxos backup restore).");

    /// <summary>An agent exports only its own backups: a full backup holds every agent's state.</summary>
    public static StructuredError? AgentExportRefusal(AgentName caller, string scope) =>
        BackupScope.TryParse(scope, out var s) && s.Agent == caller
            ? null
            : BackupErrors.PermissionDenied("export", "A full backup holds every agent's state; only the operator can export it.");

    /// <summary>An agent backs up itself or everything (the full backup waits for approval by default); never another agent alone.</summary>
    public static StructuredError? AgentCreateRefusal(AgentName caller, string? requested) =>
        requested is null || requested == caller.Value
            ? null
            : BackupErrors.PermissionDenied("create", "An agent backs up only its own state (or everything, which waits for approval).");
}

/// <summary>The errors of <c>state.backup.*</c> (spec §16.2).</summary>
public static class BackupErrors
{
    /// <summary>No such backup is kept (or it is another agent's).</summary>
    public static StructuredError NotFound(string backupId) =>
        StructuredError.Create("BackupNotFound", $"Backup '{backupId}' does not exist (it may have been pruned).")
            .WithRecovery("list_backups", "List the backups that are kept.", "state.backup.list")
            .WithContext("backup_id", backupId);

    /// <summary>The file did not authenticate: tampered, truncated, renamed, or made under another vault. Nothing was restored.</summary>
    public static StructuredError DecryptionFailed(string backupId, string reason) =>
        StructuredError.Create("DecryptionFailed", $"Backup '{backupId}' cannot be opened: {reason}. Nothing was restored.")
            .WithRecovery("use_other_backup", "Use another backup; the operator can check this one with kruxos backup verify.", "state.backup.list")
            .WithContext("backup_id", backupId).WithContext("reason", reason);

    /// <summary>The vault is locked on this node: no backup key.</summary>
    public static StructuredError VaultLocked() =>
        StructuredError.Create("VaultLocked", "The secrets vault is locked on this node; backups are encrypted with a key derived from it.", retryable: true)
            .WithRecovery("retry_later", "Ask the operator to unlock the vault (kruxos vault unlock), then try again.");

    /// <summary>The caller may not do this with backups (another agent's state, a full backup's export).</summary>
    public static StructuredError PermissionDenied(string operation, string message) =>
        StructuredError.Create("PermissionDenied", message)
            .WithRecovery("backup_own_state", "Work with backups of your own state (state.backup.create with agent set to your name).", "state.backup.create")
            .WithContext("operation", operation);

    /// <summary>The backup store could not read or write.</summary>
    public static StructuredError IoError(string operation, string reason) =>
        StructuredError.Create("IoError", $"The backup store could not {operation}: {reason}.", retryable: true)
            .WithRecovery("retry_later", "Try again later; the operator can check the gateway's data directory.")
            .WithContext("operation", operation);
}
