using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Proxy;
using KruxOS.Core.Admin;
using KruxOS.Core.Proxy;

namespace KruxOS.Gateway.Control;

/// <summary>
/// The <c>proxy.*</c> methods of the control socket and the User API's <c>/api/proxy</c> routes: parameters read,
/// <see cref="ProxyAdmin"/> called, the answer rendered by <see cref="ProxyJson"/>. A connect secret (a bot token, an OAuth
/// client secret) is turned into bytes once and zeroed after the connect; it never appears in an answer or an error.
/// </summary>
public sealed class ProxyControl(ProxyAdmin admin)
{
    /// <summary>The longest connect secret accepted.</summary>
    public const int MaxSecretBytes = 16 * 1024;

    /// <summary><c>proxy.status</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> StatusAsync(JsonObject p, CancellationToken ct) =>
        Render(await admin.StatusAsync(ct).ConfigureAwait(false), ProxyJson.Status);

    /// <summary><c>proxy.writes</c> <c>{status?, service?}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> WritesAsync(JsonObject p, CancellationToken ct) =>
        Render(await admin.WritesAsync(p["status"]?.GetValue<string>(), p["service"]?.GetValue<string>(), ct).ConfigureAwait(false), ProxyJson.Writes);

    /// <summary><c>proxy.cancel</c> <c>{id}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> CancelAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.CancelAsync(p["id"]?.GetValue<string>(), by, ct).ConfigureAwait(false), ProxyJson.Write);

    /// <summary><c>proxy.retry</c> <c>{id}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> RetryAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.RetryAsync(p["id"]?.GetValue<string>(), by, ct).ConfigureAwait(false), ProxyJson.Write);

    /// <summary><c>proxy.discard</c> <c>{id}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> DiscardAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.DiscardAsync(p["id"]?.GetValue<string>(), by, ct).ConfigureAwait(false), ProxyJson.Write);

    /// <summary><c>proxy.rollback</c> <c>{id}</c>: applies an executed write's rollback point once (ADR 0065).</summary>
    public async Task<(JsonNode?, AdminError?)> RollbackAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.RollbackAsync(p["id"]?.GetValue<string>(), by, ct).ConfigureAwait(false), ProxyJson.Write);

    /// <summary><c>proxy.connect</c> <c>{service, settings?: {name: text}, secret?}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> ConnectAsync(JsonObject p, string by, CancellationToken ct)
    {
        var settings = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        if (p["settings"] is JsonObject given)
            foreach (var (key, value) in given)
            {
                if (settings.Count >= 32) return (null, AdminErrors.InvalidInput("at most 32 connect settings"));
                var text = value?.GetValue<string>() ?? string.Empty;
                if (key.Length > 64 || text.Length > 2048) return (null, AdminErrors.InvalidInput($"the connect setting '{Clip(key)}' is too long"));
                settings[key] = text;
            }
        var secretText = p["secret"]?.GetValue<string>() ?? string.Empty;
        if (Encoding.UTF8.GetByteCount(secretText) > MaxSecretBytes) return (null, AdminErrors.InvalidInput("the secret is longer than 16 KiB"));
        var secret = Encoding.UTF8.GetBytes(secretText);
        try
        {
            return Render(await admin.ConnectAsync(p["service"]?.GetValue<string>(), settings.ToImmutable(), secret, by, ct).ConfigureAwait(false),
                ProxyJson.Connect);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secret);
        }
    }

    /// <summary><c>proxy.disconnect</c> <c>{service}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> DisconnectAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.DisconnectAsync(p["service"]?.GetValue<string>(), by, ct).ConfigureAwait(false), ProxyJson.Disconnect);

    private static (JsonNode?, AdminError?) Render<T>(AdminResult<T> result, Func<T, JsonNode> render) =>
        result.IsOk ? (render(result.Value!), null) : (null, result.Error);

    private static string Clip(string text) => text.Length <= 32 ? text : text[..32] + "…";
}

/// <summary>The proxy's answers on every admin surface (control socket, User API, dashboard).</summary>
public static class ProxyJson
{
    /// <summary><c>{services:[{name, display_name, status, account, last_sync, last_sync_error, sync_interval_seconds, replica_entries, buffered_writes, executing_writes, dead_letters, rollback_points}]}</c>.</summary>
    public static JsonNode Status(ImmutableArray<ProxyServiceStatus> services) => new JsonObject
    {
        ["services"] = new JsonArray([.. services.Select(s => (JsonNode)new JsonObject
        {
            ["name"] = s.Name,
            ["display_name"] = s.DisplayName,
            ["status"] = s.Status,
            ["account"] = s.Account,
            ["last_sync"] = s.LastSync is { } t ? KruxOS.Actors.Proxy.ProxyJson.Time(t) : null,
            ["last_sync_error"] = s.LastSyncError,
            ["sync_interval_seconds"] = s.SyncIntervalSeconds,
            ["replica_entries"] = s.ReplicaEntries,
            ["buffered_writes"] = s.Writes.Buffered,
            ["executing_writes"] = s.Writes.Executing,
            ["dead_letters"] = s.Writes.DeadLettered,
            ["rollback_points"] = s.Writes.RollbackPoints,
        })]),
    };

    /// <summary><c>{writes:[…], total}</c>.</summary>
    public static JsonNode Writes(ImmutableArray<BufferedWriteState> writes) => new JsonObject
    {
        ["writes"] = new JsonArray([.. writes.Select(Write)]),
        ["total"] = writes.Length,
    };

    /// <summary>
    /// One write, as operators see it: never its arguments (a mail body), only the adapter's one-line description.
    /// <c>rollback_available</c> is true while an operator can roll it back (executed, a point recorded, within its
    /// retention, not rolled back yet); <c>rollback_status</c> is <c>applying</c>, <c>applied</c>, <c>failed</c> or
    /// <c>failed_retryable</c> once one was requested.
    /// </summary>
    public static JsonNode Write(BufferedWriteState w) => Write(w, DateTimeOffset.UtcNow);

    /// <summary><see cref="Write(BufferedWriteState)"/> at <paramref name="now"/>.</summary>
    public static JsonNode Write(BufferedWriteState w, DateTimeOffset now) => new JsonObject
    {
        ["write_id"] = w.Id.Value,
        ["service"] = w.Service.Value,
        ["operation"] = w.Operation?.Value,
        ["agent"] = w.Agent?.Value,
        ["session_id"] = w.SessionId,
        ["description"] = w.Description,
        ["status"] = w.Status.ToWire(),
        ["buffered_at"] = KruxOS.Actors.Proxy.ProxyJson.Time(w.BufferedAt),
        ["buffer_until"] = KruxOS.Actors.Proxy.ProxyJson.Time(w.BufferUntil),
        ["cancellable"] = w.Status == WriteStatus.Buffered,
        ["attempts"] = w.Attempts,
        ["next_attempt_at"] = w.NextAttemptAt is { } n ? KruxOS.Actors.Proxy.ProxyJson.Time(n) : null,
        ["last_error"] = w.LastError,
        ["provider_reference"] = w.ProviderReference,
        ["rollback"] = w.Rollback?.Kind,
        ["rollback_until"] = w.RollbackKeptUntil is { } r ? KruxOS.Actors.Proxy.ProxyJson.Time(r) : null,
        ["rollback_available"] = w.HasLiveRollback(now) && w.RollbackApplied?.Status is not RollbackApplyStatus.Applying,
        ["rollback_status"] = w.RollbackApplied?.Status.ToWire(),
        ["rolled_back_at"] = w.RollbackApplied?.FinishedAt is { } rb && w.RollbackApplied.Status == RollbackApplyStatus.Applied ? KruxOS.Actors.Proxy.ProxyJson.Time(rb) : null,
        ["rolled_back_by"] = w.RollbackApplied?.By,
        ["finished_at"] = w.FinishedAt is { } f ? KruxOS.Actors.Proxy.ProxyJson.Time(f) : null,
        ["finished_by"] = w.FinishedBy,
    };

    /// <summary>A connect's outcome.</summary>
    public static JsonNode Connect(ProxyConnectResult r) => new JsonObject
    {
        ["service"] = r.Service,
        ["status"] = r.Status,
        ["message"] = r.Message,
        ["authorize_url"] = r.AuthorizeUrl,
        ["expires_at"] = r.ExpiresAt is { } e ? KruxOS.Actors.Proxy.ProxyJson.Time(e) : null,
    };

    /// <summary>A disconnect's outcome.</summary>
    public static JsonNode Disconnect(ProxyDisconnectResult r) => new JsonObject
    {
        ["service"] = r.Service,
        ["cancelled_writes"] = r.CancelledWrites,
        ["revoked_at_provider"] = r.RevokedAtProvider,
        ["provider_error"] = r.ProviderError,
        ["purged"] = r.Purged,
        ["message"] = r.Message,
    };
}
