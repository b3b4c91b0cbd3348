using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.State.Backups;
using KruxOS.Core;
using KruxOS.Core.Admin;

namespace KruxOS.Gateway.Control;

/// <summary>
/// The <c>backup.*</c> methods of the control socket (and the User API's backup routes): parameters read,
/// <see cref="BackupAdmin"/> called, its record rendered in the gateway's snake_case JSON. A passphrase is read once and
/// never appears in an answer, an error message or the audit log.
/// </summary>
public sealed class BackupControl(BackupAdmin admin)
{
    /// <summary><c>backup.create</c> <c>{agent?}</c> (no agent: a full backup).</summary>
    public async Task<(JsonNode?, AdminError?)> CreateAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.CreateAsync(Text(p, "agent"), by, ct).ConfigureAwait(false));

    /// <summary><c>backup.list</c>.</summary>
    public Task<(JsonNode?, AdminError?)> ListAsync(JsonObject p, CancellationToken ct) => Task.FromResult(Render(admin.List()));

    /// <summary><c>backup.restore</c> <c>{backup_id, agent?, passphrase?}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> RestoreAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.RestoreAsync(Text(p, "backup_id"), Text(p, "agent"), Text(p, "passphrase"), by, ct).ConfigureAwait(false));

    /// <summary><c>backup.verify</c> <c>{backup_id, passphrase?}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> VerifyAsync(JsonObject p, CancellationToken ct) =>
        Render(await admin.VerifyAsync(Text(p, "backup_id"), Text(p, "passphrase"), ct).ConfigureAwait(false));

    /// <summary><c>backup.export</c> <c>{backup_id}</c>: where the kept file is, for the CLI (root) to copy.</summary>
    public async Task<(JsonNode?, AdminError?)> ExportAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.ExportAsync(Text(p, "backup_id"), by, ct).ConfigureAwait(false));

    private static (JsonNode?, AdminError?) Render<T>(AdminResult<T> result) =>
        result.IsOk ? (JsonSerializer.SerializeToNode(result.Value, CoreJson.Options), null) : (null, result.Error);

    private static string? Text(JsonObject p, string name) => p[name]?.GetValue<string>() is { Length: > 0 } s ? s : null;
}
