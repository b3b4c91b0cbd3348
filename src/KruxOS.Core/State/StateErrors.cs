using KruxOS.Core.Errors;

namespace KruxOS.Core.State;

/// <summary>The state capabilities' errors (spec §16.2, category <c>state</c>), worded once for every surface.</summary>
public static class StateErrors
{
    /// <summary>
    /// A write would take <paramref name="scope"/> over its quota; nothing was written. Not retryable as is:
    /// something must be deleted first.
    /// </summary>
    /// <param name="scope"><c>session</c>, <c>persistent</c> or <c>shared</c>.</param>
    /// <param name="limitBytes">The quota.</param>
    /// <param name="usedBytes">What is charged now.</param>
    /// <param name="requiredBytes">What would be charged after the write.</param>
    public static StructuredError QuotaExceeded(string scope, long limitBytes, long usedBytes, long requiredBytes)
    {
        var (list, delete) = scope switch
        {
            "session" => ("state.session.list", "state.session.delete"),
            "shared" => ("state.shared.list", "state.shared.delete"),
            _ => ("state.persistent.list", "state.persistent.delete"),
        };
        return StructuredError.Create("QuotaExceeded",
                $"The {scope} state quota of {limitBytes} bytes would be exceeded ({requiredBytes} bytes needed, {usedBytes} in use); nothing was written.")
            .WithRecovery("check_usage", "List the keys and their sizes.", list)
            .WithRecovery("cleanup", "Delete keys (and with them their retained versions) that are no longer needed, then write again.", delete)
            .WithContext("scope", scope).WithContext("limit_bytes", limitBytes)
            .WithContext("used_bytes", usedBytes).WithContext("required_bytes", requiredBytes);
    }

    /// <summary>The key (or the asked version of it) does not exist.</summary>
    public static StructuredError KeyNotFound(string scope, string key, long? version = null)
    {
        var error = StructuredError.Create("KeyNotFound", version is { } v
                ? $"Version {v} of {scope} state key '{key}' does not exist or is no longer retained."
                : $"The {scope} state key '{key}' does not exist.")
            .WithRecovery("list_keys", "List the keys that exist.", scope == "shared" ? "state.shared.list" : "state.persistent.list")
            .WithContext("scope", scope).WithContext("key", key);
        return version is { } ver
            ? error.WithRecovery("check_history", "See which versions are retained.", "state.persistent.history").WithContext("version", ver)
            : error;
    }

    /// <summary>
    /// An optimistic-lock mismatch on a shared key (SDK <c>ConflictError</c>): retryable after reading the
    /// current version.
    /// </summary>
    public static StructuredError VersionConflict(string key, long expectedVersion, long actualVersion) =>
        StructuredError.Create("VersionConflict",
                expectedVersion == 0
                    ? $"Shared key '{key}' already exists (version {actualVersion}); expected_version 0 only creates."
                    : $"Shared key '{key}' is at version {actualVersion}, not {expectedVersion}: it was modified concurrently.",
                retryable: true)
            .WithRecovery("re_read", "Read the key again, merge your change with its current value, and write with its version.", "state.shared.get")
            .WithContext("resource", key).WithContext("expected_version", expectedVersion).WithContext("actual_version", actualVersion);

    /// <summary>The session has ended (or never existed on this gateway).</summary>
    public static StructuredError SessionNotFound(string sessionId) =>
        StructuredError.Create("SessionNotFound", $"Session '{sessionId}' has no session state: it has ended.")
            .WithRecovery("reconnect", "Reconnect; session state starts empty in a new session. Use persistent state for anything that must outlive a session.", "state.persistent.set")
            .WithContext("session_id", sessionId);

    /// <summary>A timestamp argument is not an RFC 3339 time with an offset, or is out of range.</summary>
    public static StructuredError InvalidTimestamp(string field, string value, string reason) =>
        StructuredError.Create("InvalidTimestamp", $"Invalid timestamp in '{field}': {reason}.")
            .WithRecovery("fix_input", "Send an RFC 3339 time with an offset, e.g. 2026-03-25T14:00:00Z.")
            .WithContext("field", field).WithContext("value", value.Length <= 64 ? value : value[..64]).WithContext("reason", reason);

    /// <summary>No snapshot with this id.</summary>
    public static StructuredError SnapshotNotFound(string snapshotId) =>
        StructuredError.Create("SnapshotNotFound", $"Snapshot '{snapshotId}' does not exist (it may have been pruned).")
            .WithRecovery("list_snapshots", "List the snapshots that are kept.", "state.snapshot.list")
            .WithContext("snapshot_id", snapshotId);

    /// <summary>A watch could not be set up.</summary>
    public static StructuredError SubscriptionFailed(string reason, int? limit = null)
    {
        var error = StructuredError.Create("SubscriptionFailed", $"The watch could not be set up: {reason}.")
            .WithContext("reason", reason);
        return limit is { } l
            ? error.WithRecovery("reuse_watch", "Watch a shorter prefix that covers several keys instead of one watch per key.").WithContext("limit", l)
            : error.WithRecovery("retry_later", "Try again later.");
    }

    /// <summary>The answer would be larger than a reply may be; nothing is lost, the caller asks for less.</summary>
    public static StructuredError ResultTooLarge(string capability, long limitBytes, long sizeBytes, string narrowBy) =>
        StructuredError.Create("ResultTooLarge",
                $"The result of '{capability}' would be {sizeBytes} bytes, over the {limitBytes}-byte reply limit.")
            .WithRecovery("narrow_request", narrowBy)
            .WithContext("capability", capability).WithContext("limit_bytes", limitBytes).WithContext("size_bytes", sizeBytes);
}
