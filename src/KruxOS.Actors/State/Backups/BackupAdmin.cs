using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Audit;
using KruxOS.Core.Admin;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.State;
using KruxOS.Core.State.Backups;

namespace KruxOS.Actors.State.Backups;

/// <summary>What <c>kruxos backup verify</c> found: the backup authenticated and its contents, counted.</summary>
/// <param name="BackupId">The id.</param>
/// <param name="CreatedAt">When it was made.</param>
/// <param name="Scope"><c>full</c> or <c>agent:&lt;name&gt;</c>.</param>
/// <param name="FileSizeBytes">Size of the file.</param>
/// <param name="Agents">Agents whose persistent state it holds.</param>
/// <param name="PersistentKeys">Persistent keys in all.</param>
/// <param name="SharedKeys">Shared keys.</param>
/// <param name="SameVault">True when this node's vault made it (no passphrase needed to restore it here).</param>
public sealed record BackupVerification(string BackupId, DateTimeOffset CreatedAt, string Scope, long FileSizeBytes, ImmutableArray<string> Agents,
    int PersistentKeys, int SharedKeys, bool SameVault);

/// <summary>Where a kept backup file is (<c>kruxos backup export</c>: the CLI, as root, copies it itself).</summary>
/// <param name="BackupId">The id.</param>
/// <param name="Path">The kept file.</param>
/// <param name="FileSizeBytes">Its size.</param>
/// <param name="Scope">Its scope (from the header).</param>
public sealed record BackupFile(string BackupId, string Path, long FileSizeBytes, string Scope);

/// <summary>
/// <c>kruxos backup create|list|restore|verify|export</c> for every adapter (control socket, User API). The operator
/// sees and restores every backup; each create, restore and export is written to the audit log as
/// <c>state.backup.&lt;operation&gt;</c> by the operator's principal <b>before</b> it runs (an operation the audit log does
/// not accept does not run) and again with its outcome. Never a passphrase or a value in an entry.
/// </summary>
public sealed class BackupAdmin(BackupService backups, ActorRegistry registry, TimeProvider clock)
{
    /// <summary>How long an audit entry waits for the writer.</summary>
    public static readonly TimeSpan AuditTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Creates a backup of <paramref name="agent"/> (null: full), as <paramref name="by"/>.</summary>
    public Task<AdminResult<BackupReplies.CreateResult>> CreateAsync(string? agent, string by, CancellationToken ct) =>
        AdminCalls.Guarded<BackupReplies.CreateResult>(async () =>
        {
            AgentName? one = null;
            if (agent is not null)
            {
                if (!AgentName.TryParse(agent, out var parsed, out var reason)) return AdminErrors.InvalidInput(reason);
                one = parsed;
            }
            var inputs = new JsonObject { ["agent"] = agent };
            if (await AuditAsync(by, "create", inputs, AuditStatus.Pending, "requested", null, ct).ConfigureAwait(false) is { } refused) return refused;
            var reply = await backups.CreateAsync(one, ct).ConfigureAwait(false);
            return await OutcomeAsync<BackupReplies.CreateResult>(by, "create", inputs, reply, r => $"created {r.BackupId} ({r.Scope}, {r.FileSizeBytes} bytes)", ct)
                .ConfigureAwait(false);
        });

    /// <summary>Every kept backup, newest first.</summary>
    public AdminResult<BackupReplies.ListResult> List() => backups.List(BackupCaller.Operator) switch
    {
        BackupReplies.ListResult list => list,
        StateRefused refused => ToAdmin(refused.Error),
        var other => AdminErrors.InvalidInput($"unexpected answer {other.GetType().Name}"),
    };

    /// <summary>
    /// Restores <paramref name="backupId"/> (everything in it, or <paramref name="agent"/>'s state only). A backup made under
    /// another vault (a fresh data directory) needs that vault's <paramref name="passphrase"/>.
    /// </summary>
    public Task<AdminResult<BackupReplies.RestoreResult>> RestoreAsync(string? backupId, string? agent, string? passphrase, string by, CancellationToken ct) =>
        AdminCalls.Guarded<BackupReplies.RestoreResult>(async () =>
        {
            if (BackupIds.Validate(backupId) is { } bad) return ToAdmin(bad);
            var inputs = new JsonObject { ["backup_id"] = backupId, ["agent"] = agent, ["with_passphrase"] = passphrase is not null };
            if (await AuditAsync(by, "restore", inputs, AuditStatus.Pending, "requested", null, ct).ConfigureAwait(false) is { } refused) return refused;
            var reply = await backups.RestoreAsync(backupId, new BackupRestoreRequest(agent, passphrase), BackupCaller.Operator, ct).ConfigureAwait(false);
            return await OutcomeAsync<BackupReplies.RestoreResult>(by, "restore", inputs, reply,
                r => $"restored {backupId}: agents [{string.Join(", ", r.AgentsRestored)}], {r.PersistentKeys} persistent keys, shared state {(r.SharedStateRestored ? $"{r.SharedKeys} keys" : "not restored")}", ct)
                .ConfigureAwait(false);
        });

    /// <summary>Opens and authenticates <paramref name="backupId"/> without restoring anything.</summary>
    public Task<AdminResult<BackupVerification>> VerifyAsync(string? backupId, string? passphrase, CancellationToken ct) =>
        AdminCalls.Guarded<BackupVerification>(async () =>
        {
            var (opened, error) = await backups.OpenAsync(backupId, BackupCaller.Operator, passphrase, ct).ConfigureAwait(false);
            if (opened is null) return ToAdmin(error!);
            var c = opened.Contents;
            var agents = c.Agents.IsDefault ? [] : c.Agents;
            return new BackupVerification(opened.Header.BackupId, opened.Header.CreatedAt, opened.Header.Scope, opened.FileSizeBytes,
                [.. agents.Select(a => a.Agent.Value)], agents.Sum(a => a.Keys.IsDefault ? 0 : a.Keys.Length), c.Shared.IsDefault ? 0 : c.Shared.Length,
                passphrase is null);
        });

    /// <summary>The kept file of <paramref name="backupId"/> for the CLI to copy (audited as an export).</summary>
    public Task<AdminResult<BackupFile>> ExportAsync(string? backupId, string by, CancellationToken ct) =>
        AdminCalls.Guarded<BackupFile>(async () =>
        {
            var (file, header, error) = backups.Locate(backupId, BackupCaller.Operator);
            if (file is null || header is null) return ToAdmin(error ?? BackupErrors.NotFound(backupId ?? ""));
            var inputs = new JsonObject { ["backup_id"] = backupId };
            if (await AuditAsync(by, "export", inputs, AuditStatus.Success, $"handed {backupId} to the operator's CLI", null, ct).ConfigureAwait(false) is { } refused)
                return refused;
            return new BackupFile(header.BackupId, file.FullName, file.Length, header.Scope);
        });

    private async Task<AdminResult<T>> OutcomeAsync<T>(string by, string operation, JsonObject inputs, IStateReply reply, Func<T, string> summary, CancellationToken ct)
        where T : class
    {
        if (reply is T ok)
        {
            await AuditAsync(by, operation, inputs, AuditStatus.Success, summary(ok), null, ct).ConfigureAwait(false);
            return ok;
        }
        var error = reply is StateRefused r ? r.Error : Errors.Internal($"unexpected answer {reply.GetType().Name}");
        await AuditAsync(by, operation, inputs, AuditStatus.Error, error.Message, error.ErrorType, ct).ConfigureAwait(false);
        return ToAdmin(error);
    }

    /// <summary>The admin error of a backup error: its <c>error_type</c> is the code.</summary>
    public static AdminError ToAdmin(StructuredError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var kind = error.ErrorType switch
        {
            "InvalidInput" => AdminErrorKind.InvalidInput,
            "BackupNotFound" => AdminErrorKind.NotFound,
            "VaultLocked" or "ServiceUnavailable" => AdminErrorKind.Unavailable,
            "QuotaExceeded" or "VersionConflict" => AdminErrorKind.Conflict,
            "PermissionDenied" => AdminErrorKind.Forbidden,
            "Timeout" => AdminErrorKind.Timeout,
            _ => AdminErrorKind.Failed,
        };
        return new AdminError(kind, error.ErrorType, error.Message);
    }

    // Null when the entry is durable; otherwise the error that stops the operation.
    private async Task<AdminError?> AuditAsync(string by, string operation, JsonObject inputs, AuditStatus status, string summary, string? errorType, CancellationToken ct)
    {
        var entry = AuditEntry.Call(clock.GetUtcNow(), Principal.ForUser(by), null, CapabilityName.Parse("state.backup." + operation),
            JsonSerializer.SerializeToElement(inputs), status, summary, null, 0, metadata: new AuditMetadata(ErrorType: errorType));
        if (!registry.TryGet<AuditWriter>(out var writer)) return Unaudited("the audit writer is not running");
        try
        {
            var answer = await writer.Ask<object>(replyTo => new AuditCommands.Append(entry, replyTo), AuditTimeout, ct).ConfigureAwait(false);
            return answer switch
            {
                AuditReplies.AuditAppended or AuditReplies.AuditBuffered => null,
                AuditReplies.AuditFailed f => Unaudited(f.Reason),
                _ => Unaudited($"unexpected answer {answer.GetType().Name}"),
            };
        }
        catch (AskTimeoutException)
        {
            return Unaudited("the audit writer did not answer in time");
        }
    }

    private static AdminError Unaudited(string reason) =>
        new(AdminErrorKind.Failed, "audit_error", $"the operation was not run: its audit entry was not written ({reason})");
}
