using Microsoft.Data.Sqlite;

namespace KruxOS.Proxy;

/// <summary>
/// One sync of a service's replica.
/// </summary>
/// <param name="Replica">An open connection to <c>&lt;data&gt;/proxy/&lt;service&gt;/sync.db</c> (WAL, busy timeout set); the adapter creates
/// its own tables (<c>CREATE TABLE IF NOT EXISTS</c>) and never touches those starting with <c>kruxos_</c>.</param>
/// <param name="Cursor">The cursor the previous sync returned, or null for an initial sync (first connect, after a purge).</param>
/// <param name="Account">The account the replica belongs to.</param>
public sealed record SyncRequest(SqliteConnection Replica, string? Cursor, string? Account);

/// <summary>The answer of <see cref="IServiceAdapter.SyncAsync"/>.</summary>
/// <param name="Ok">Whether the sync succeeded (a failed sync keeps the previous cursor and is retried on the next tick).</param>
/// <param name="Cursor">The new cursor (history id, per-channel <c>oldest</c> as JSON) when ok; at most 64 KiB.</param>
/// <param name="Entries">How many entries the replica holds now (messages); shown as <c>replica_entries</c>.</param>
/// <param name="ProviderCalls">How many provider requests the sync made (telemetry).</param>
/// <param name="Error">Why it failed, for operators (no credential).</param>
public sealed record SyncOutcome(bool Ok, string? Cursor, long Entries, int ProviderCalls, string? Error)
{
    /// <summary>A successful sync.</summary>
    public static SyncOutcome Success(string? cursor, long entries, int providerCalls) => new(true, cursor, entries, providerCalls, null);

    /// <summary>A failed sync.</summary>
    public static SyncOutcome Failure(string error, int providerCalls = 0) => new(false, null, 0, providerCalls, error);
}
