using System.Collections.Immutable;
using System.Security.Cryptography;
using Akka.Actor;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Vault;
using KruxOS.Core.Agents;
using KruxOS.Core.Alerts;
using KruxOS.Core.Errors;
using KruxOS.Core.State;
using KruxOS.Core.State.Backups;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Shared;
using KruxOS.Core.Vault;
using KruxOS.Vault;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.State.Backups;

/// <summary>Who asks for a backup operation: an agent (its own state only) or the operator.</summary>
/// <param name="Agent">The calling agent; null for the operator.</param>
public sealed record BackupCaller(AgentName? Agent)
{
    /// <summary>The operator (control socket, User API, the nightly timer).</summary>
    public static readonly BackupCaller Operator = new((AgentName?)null);

    /// <summary>An agent.</summary>
    public static BackupCaller ForAgent(AgentName agent) => new(agent);
}

/// <summary>What a restore restores.</summary>
/// <param name="Agent">Only this agent's persistent state (the <c>agent</c> argument); null: everything in the backup.</param>
/// <param name="Passphrase">
/// The vault passphrase of the gateway that made the backup, for a backup made under another vault (a fresh data directory);
/// null: the backup key of this node's unlocked vault.
/// </param>
public sealed record BackupRestoreRequest(string? Agent, string? Passphrase = null);

/// <summary>What putting back an interrupted restore at start-up did.</summary>
/// <param name="BackupId">The restore's backup; null when there was no log or it was refused.</param>
/// <param name="PartsPutBack">Parts written back.</param>
/// <param name="PartsNotPutBack">Parts that could not be put back (the log is kept).</param>
/// <param name="Refused">Why the log was refused (nothing put back, the log kept); null when it read whole.</param>
public sealed record RestoreRecoveryOutcome(string? BackupId, int PartsPutBack, ImmutableArray<string> PartsNotPutBack, string? Refused)
{
    /// <summary>Everything the log named is back and the log is gone.</summary>
    public bool Complete => Refused is null && PartsNotPutBack.IsDefaultOrEmpty;
}

/// <summary>A backup opened and authenticated (verify, restore).</summary>
public sealed record OpenedBackup(BackupHeader Header, BackupContents Contents, long FileSizeBytes);

/// <summary>
/// The backups of <c>state.backup.*</c> and <c>kruxos backup</c> (ADR 0042). A backup is gathered from the state entities
/// (each agent's persistent state exactly as stored, every shared key for a full backup), sealed under the vault's
/// <c>backup</c> subkey, and written by <see cref="BackupStore"/>. A restore opens and authenticates the whole file, checks
/// every part (keys, versions, quotas) and only then sends each part through its entity: an agent's state is replaced in
/// one persisted event, shared keys are written as new versions through the optimistic lock (so no writer holding an older
/// version can overwrite them) and keys absent from the backup are deleted. Not for use inside actors.
/// </summary>
public sealed class BackupService(BackupStore store, StateAccess state, IRestoreTarget target, ISecretAccess secrets, VaultDirectory vault,
    IdentityDirectory identities, RestoreJournal journal, IServiceProvider services, TimeProvider clock, ILogger<BackupService> log)
{
    private const int SharedWriteAttempts = 8;
    private readonly SemaphoreSlim restoring = new(1, 1);

    /// <summary>The store.</summary>
    public BackupStore Store => store;

    /// <summary>
    /// Creates a backup of <paramref name="agent"/> (null: full, every agent and shared state). <c>VaultLocked</c> while this
    /// node holds no vault key; <c>ServiceUnavailable</c> when a state entity does not answer (nothing written).
    /// </summary>
    public async Task<IStateReply> CreateAsync(AgentName? agent, CancellationToken ct)
    {
        if (vault.Current.Header is not { } vaultHeader) return new StateRefused(BackupErrors.VaultLocked());
        var key = new byte[BackupFormat.KeyBytes];
        try
        {
            if (!secrets.TryDeriveKey(BackupFormat.KeyPurpose, key)) return new StateRefused(BackupErrors.VaultLocked());
            var scope = agent is { } one ? BackupScope.ForAgent(one) : BackupScope.Full;
            var (contents, refused) = await GatherAsync(scope, ct).ConfigureAwait(false);
            if (contents is null) return new StateRefused(refused!);
            var plaintext = BackupFormat.Serialize(contents);
            if (plaintext.LongLength > BackupFormat.MaxPlaintextBytes)
                return new StateRefused(BackupErrors.IoError("create", $"the state is larger than {BackupFormat.MaxPlaintextBytes} bytes, the most one backup holds"));
            var now = clock.GetUtcNow();
            var created = now.AddTicks(-(now.UtcTicks % TimeSpan.TicksPerSecond));
            try
            {
                var (id, size) = await store.CreateAsync(now, (id, stream) =>
                {
                    var header = BackupFormat.NewHeader(id, created, scope, contents.Agents.Select(a => a.Agent), plaintext.LongLength, vaultHeader);
                    BackupFormat.Write(stream, header, key, plaintext);
                }, ct).ConfigureAwait(false);
                return new BackupReplies.CreateResult(id, created, size, scope.ToString());
            }
            finally
            {
                CryptographicOperations.ZeroMemory(plaintext);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Backup not written: {Error}", e.GetType().Name);
            return new StateRefused(BackupErrors.IoError("create", e.GetType().Name));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>The kept backups <paramref name="caller"/> may see, newest first (agents: their own and full ones).</summary>
    public IStateReply List(BackupCaller caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        try
        {
            var entries = store.Scan().Where(e => caller.Agent is not { } a || BackupCatalog.VisibleTo(a, e.Scope));
            var list = BackupCatalog.NewestFirst(entries);
            return new BackupReplies.ListResult(list, list.Length);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new StateRefused(BackupErrors.IoError("list", e.GetType().Name));
        }
    }

    /// <summary>
    /// The kept file of <paramref name="backupId"/> if <paramref name="caller"/> may see it: <c>InvalidInput</c> for a
    /// non-id, <c>BackupNotFound</c> for an absent file or another agent's backup (indistinguishable).
    /// </summary>
    public (FileInfo? File, BackupHeader? Header, StructuredError? Error) Locate(string? backupId, BackupCaller caller)
    {
        ArgumentNullException.ThrowIfNull(caller);
        if (BackupIds.Validate(backupId) is { } bad) return (null, null, bad);
        try
        {
            if (store.Find(backupId!) is not { } file) return (null, null, BackupErrors.NotFound(backupId!));
            using var stream = BackupStore.OpenRead(file.FullName);
            var (header, error) = BackupFormat.ReadHeader(stream);
            // An agent sees a backup only when its authenticated-on-open header says it may; an unreadable header is shown to
            // the operator only, as the failure it is.
            if (caller.Agent is { } agent && (header is null || !BackupCatalog.VisibleTo(agent, header.Scope)))
                return (null, null, BackupErrors.NotFound(backupId!));
            if (header is null) return (file, null, BackupErrors.DecryptionFailed(backupId!, error!));
            return (file, header, null);
        }
        catch (FileNotFoundException)
        {
            return (null, null, BackupErrors.NotFound(backupId!));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, null, BackupErrors.IoError("read", e.GetType().Name));
        }
    }

    /// <summary>
    /// Opens and authenticates a whole backup (kruxos backup verify; the first step of every restore). With a
    /// <paramref name="passphrase"/> the key is derived from the backup's own vault parameters (a fresh data directory);
    /// without, from this node's vault, which must be the one the backup was made under.
    /// </summary>
    public async Task<(OpenedBackup? Backup, StructuredError? Error)> OpenAsync(string? backupId, BackupCaller caller, string? passphrase, CancellationToken ct)
    {
        var (file, header, error) = Locate(backupId, caller);
        if (file is null || header is null) return (null, error);
        var key = new byte[BackupFormat.KeyBytes];
        try
        {
            if (passphrase is not null)
            {
                if (caller.Agent is not null) return (null, Errors.InvalidInput("passphrase", "only the operator restores with a passphrase"));
                var (failed, message) = await Task.Run(() => BackupKeys.TryDerive(header.Vault, passphrase, BackupFormat.KeyPurpose, key), ct).ConfigureAwait(false);
                if (failed is not null)
                    return (null, BackupErrors.DecryptionFailed(backupId!, failed == VaultUnlockError.WrongPassphrase
                        ? "the passphrase does not open the vault this backup was made under"
                        : "its vault parameters are refused: " + message));
            }
            else
            {
                if (vault.Current.Header is not { } current || !secrets.IsUnlocked) return (null, BackupErrors.VaultLocked());
                if (!BackupFormat.SameVault(current, header.Vault))
                    return (null, BackupErrors.DecryptionFailed(backupId!,
                        "it was made under another vault (another data directory); the operator restores it with that vault's passphrase"));
                if (!secrets.TryDeriveKey(BackupFormat.KeyPurpose, key)) return (null, BackupErrors.VaultLocked());
            }
            var opened = await Task.Run(() =>
            {
                using var stream = BackupStore.OpenRead(file.FullName);
                return BackupFormat.Open(stream, backupId!, key);
            }, ct).ConfigureAwait(false);
            if (opened.Plaintext is null || opened.Header is null) return (null, BackupErrors.DecryptionFailed(backupId!, opened.Error!));
            try
            {
                var (contents, bad) = BackupFormat.ReadContents(opened.Header, opened.Plaintext);
                return contents is null ? (null, BackupErrors.DecryptionFailed(backupId!, bad!)) : (new OpenedBackup(opened.Header, contents, file.Length), null);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(opened.Plaintext);
            }
        }
        catch (FileNotFoundException)
        {
            return (null, BackupErrors.NotFound(backupId!));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, BackupErrors.IoError("read", e.GetType().Name));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(key);
        }
    }

    /// <summary>
    /// Restores a backup, all or nothing (ADR 0060). An agent restores only its own persistent state (from its backup or its
    /// part of a full one); the operator restores everything in it, or one agent. Every part is checked before anything is
    /// written; then the pre-image of every part the restore writes is taken (each chosen agent's state from its entity, the
    /// shared keys), and the parts are written. When a write fails (a refusal, a timeout, an exception, a cancellation), every
    /// part already written (and the failed one, when it may have landed) is put back from its pre-image and the answer is
    /// one error saying nothing was restored; when putting back fails too, a critical system alert and a
    /// <c>RestoreIncomplete</c> error name the parts left with the backup's state. One restore runs at a time on a node.
    /// </summary>
    public async Task<IStateReply> RestoreAsync(string? backupId, BackupRestoreRequest request, BackupCaller caller, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(caller);
        if (caller.Agent is { } self && BackupCatalog.AgentRestoreRefusal(self, request.Agent) is { } denied) return new StateRefused(denied);
        AgentName? only = null;
        if (request.Agent is not null)
        {
            if (!AgentName.TryParse(request.Agent, out var parsed, out var reason)) return new StateRefused(Errors.InvalidInput("agent", reason));
            only = parsed;
        }
        if (caller.Agent is { } me) only = me;
        var (opened, error) = await OpenAsync(backupId, caller, request.Passphrase, ct).ConfigureAwait(false);
        if (opened is null) return new StateRefused(error!);
        var contents = opened.Contents;
        var agents = contents.Agents.IsDefault ? [] : contents.Agents;
        var chosen = only is { } wanted ? [.. agents.Where(a => a.Agent == wanted)] : agents;
        if (only is { } missing && chosen.IsEmpty)
            return new StateRefused(Errors.InvalidInput("agent", $"backup '{backupId}' holds no state of agent '{missing}'"));
        var shared = only is null && caller.Agent is null && BackupScope.TryParse(contents.Scope, out var scope) && scope.IsFull;

        // Everything is checked before the first write: each agent's state against the quota in force, shared state against its quota.
        var limits = state.Settings.Persistent;
        foreach (var a in chosen)
        {
            var candidate = PersistentState.FromSnapshot(a);
            if (candidate.UsedBytes > limits.QuotaBytes)
                return new StateRefused(StateErrors.QuotaExceeded("persistent", limits.QuotaBytes, 0, candidate.UsedBytes) with
                {
                    Message = $"Agent '{a.Agent}' in backup '{backupId}' needs {candidate.UsedBytes} bytes, over the persistent quota of {limits.QuotaBytes}; nothing was restored.",
                });
        }
        var sharedEntries = contents.Shared.IsDefault ? [] : contents.Shared;
        if (shared)
        {
            var need = sharedEntries.Sum(e => StateAccounting.KeyCharge(e.Key) + StateAccounting.ValueCharge(e.Value));
            if (need > state.Settings.Shared.QuotaBytes)
                return new StateRefused(StateErrors.QuotaExceeded("shared", state.Settings.Shared.QuotaBytes, 0, need));
        }

        // One restore at a time on this node: two interleaved restores would each take the other's writes as their pre-image.
        await restoring.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            // The undo log of an interrupted restore is put back first (at start-up); until then no restore starts.
            if (journal.Status != RestoreRecoveryStatus.Clear || journal.Exists) return new StateRefused(RecoveryPending());
            var (plan, unreadable) = await PlanAsync(chosen, shared, sharedEntries, ct).ConfigureAwait(false);
            if (plan.IsDefault) return new StateRefused(unreadable!);
            // The pre-image is durable before the first write: a crash from here on is put back at the next start.
            try
            {
                var undo = plan.Select(p => p.Undo).ToArray();
                await Task.Run(() => journal.Write(backupId!, clock.GetUtcNow(), undo), CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.LogError("Backup {Backup}: the undo log was not written ({Error}); nothing was restored", backupId, e.GetType().Name);
                return new StateRefused(BackupErrors.IoError("restore", $"the undo log could not be written ({e.GetType().Name}); nothing was restored"));
            }
            var failure = await WriteAsync(backupId!, plan, ct).ConfigureAwait(false);
            if (failure is { ErrorType: "RestoreIncomplete" })
            {
                // The log stays: the next start puts back what this process could not.
                journal.Status = RestoreRecoveryStatus.Failed;
                return new StateRefused(failure);
            }
            RemoveJournal(backupId!);
            if (failure is not null) return new StateRefused(failure);
        }
        finally
        {
            restoring.Release();
        }
        var keys = chosen.Sum(a => a.Keys.IsDefault ? 0 : a.Keys.Length);
        log.LogInformation("Backup {Backup} restored: {Agents} agents, shared state {Shared}", backupId, chosen.Length, shared);
        return new BackupReplies.RestoreResult(true, [.. chosen.Select(a => a.Agent.Value)], shared, keys, shared ? sharedEntries.Length : 0);
    }

    // The pre-image of every part the restore writes, read before the first write, and the plan built from it. A part that
    // cannot be read refuses the restore with nothing written.
    private async Task<(ImmutableArray<PlannedWrite> Plan, StructuredError? Error)> PlanAsync(ImmutableArray<PersistentStateSnapshot> chosen, bool shared,
        ImmutableArray<BackedUpSharedEntry> sharedEntries, CancellationToken ct)
    {
        var before = new Dictionary<string, PersistentStateSnapshot>(StringComparer.Ordinal);
        foreach (var a in chosen)
        {
            var reply = await target.PersistentAsync(new PersistentStateQueries.ExportState(a.Agent), ct).ConfigureAwait(false);
            switch (reply)
            {
                case PersistentStateReplies.ExportResult export: before[a.Agent.Value] = export.Snapshot; break;
                case StateRefused refused: return (default, NothingWritten(refused.Error));
                default: return (default, Errors.Internal($"unexpected answer of the persistent state of '{a.Agent}': {reply.GetType().Name}; nothing was restored"));
            }
        }
        var current = ImmutableArray<SharedEntry>.Empty;
        if (shared)
        {
            var (entries, error) = await ExportSharedAsync(ct).ConfigureAwait(false);
            if (error is not null) return (default, NothingWritten(error));
            current = entries;
        }
        return (RestorePlans.Build(chosen, before, shared, sharedEntries, current), null);
    }

    private static StructuredError RecoveryPending() =>
        Errors.ServiceUnavailable("backup", "a restore interrupted earlier has not been put back yet (it is put back at start-up); no restore starts until it is")
        with { Message = "A restore interrupted earlier has not been put back yet; no restore starts until it is. Check system.health and the critical alerts (component backup)." };

    // After a restore that succeeded or whose put-back completed. A log left in place would make the next start put the parts
    // back, so a failure to remove it is loud.
    private void RemoveJournal(string backupId)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                journal.Remove();
                return;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                if (attempt < 3) continue;
                journal.Status = RestoreRecoveryStatus.Failed;
                var message = $"The undo log of restore '{backupId}' could not be removed ({e.GetType().Name}); the next start would put back the parts " +
                              $"it names. Remove {journal.PathName} before restarting the gateway.";
                log.LogCritical("{Message}", message);
                RaiseCritical(message, new System.Text.Json.Nodes.JsonObject { ["backup_id"] = backupId, ["undo_log"] = journal.PathName });
                return;
            }
        }
    }

    /// <summary>
    /// Puts back the undo log of a restore this node was interrupted in (a crash, a kill) — at start-up, once the state
    /// entities answer (<see cref="RestoreRecovery"/>). Every part of the log is written back, newest first, through the same
    /// writes a failed restore puts back with; a part that does not go back is retried <paramref name="attempts"/> times.
    /// When everything is back the log is removed; otherwise it is kept (tried again at the next start) and a critical alert
    /// names the parts. A log that does not read whole is refused, kept, and alerted.
    /// </summary>
    public async Task<RestoreRecoveryOutcome> RecoverAsync(int attempts, TimeSpan pause, CancellationToken ct)
    {
        await restoring.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!journal.Exists)
            {
                journal.Status = RestoreRecoveryStatus.Clear;
                return new RestoreRecoveryOutcome(null, 0, [], null);
            }
            journal.Status = RestoreRecoveryStatus.Pending;
            RestoreUndoContents? contents;
            string? refused;
            try
            {
                (contents, refused) = await journal.ReadAsync(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                (contents, refused) = (null, $"it could not be read ({e.GetType().Name})");
            }
            if (contents is null)
            {
                journal.Status = RestoreRecoveryStatus.Failed;
                var message = $"The undo log of an interrupted restore ({journal.PathName}) is refused: {refused}. Nothing was put back; the parts that " +
                              "restore had written may hold a backup's state. The file is kept; check it, restore the state from a backup, then remove it.";
                log.LogCritical("{Message}", message);
                RaiseCritical(message, new System.Text.Json.Nodes.JsonObject { ["undo_log"] = journal.PathName, ["reason"] = refused });
                return new RestoreRecoveryOutcome(null, 0, [], refused);
            }
            var backupId = contents.Header.BackupId;
            var remaining = RestoreUndoLog.PutBackOrder(contents.Undo).ToList();
            var done = 0;
            for (var round = 1; remaining.Count > 0; round++)
            {
                var failed = new List<RestoreStep>();
                foreach (var step in remaining)
                {
                    StructuredError? error;
                    try
                    {
                        (error, _) = await ApplyAsync(step, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception e) when (e is not OutOfMemoryException)
                    {
                        log.LogError(e, "Backup {Backup}: putting back the {Part} after a crash failed", backupId, step.Part);
                        error = Errors.Internal(e.GetType().Name);
                    }
                    if (error is null) done++;
                    else failed.Add(step);
                }
                // Failed steps are retried in the same newest-first order; each is independent of the others' outcome.
                remaining = failed;
                if (remaining.Count == 0 || round >= attempts) break;
                await Task.Delay(pause, ct).ConfigureAwait(false);
            }
            if (remaining.Count == 0)
            {
                log.LogWarning("Backup {Backup}: the restore interrupted by a crash was put back ({Parts} parts)", backupId, done);
                // Putting back again at the next start is harmless, so a log that cannot be removed only stops new restores.
                RemoveJournal(backupId);
                return journal.Status == RestoreRecoveryStatus.Clear
                    ? new RestoreRecoveryOutcome(backupId, done, [], null)
                    : new RestoreRecoveryOutcome(backupId, done, [], "every part was put back, but the undo log could not be removed");
            }
            journal.Status = RestoreRecoveryStatus.Failed;
            var parts = remaining.Select(r => r.Part).ToArray();
            var text = $"Restore '{backupId}' was interrupted (the gateway stopped mid-restore) and putting it back at start-up failed for: " +
                       $"{string.Join(", ", parts)}. Those parts may hold the backup's state; every other part is as it was before the restore. " +
                       "The undo log is kept and put back again at the next start.";
            log.LogCritical("{Message}", text);
            RaiseCritical(text, new System.Text.Json.Nodes.JsonObject
            {
                ["backup_id"] = backupId,
                ["parts_not_put_back"] = new System.Text.Json.Nodes.JsonArray([.. parts.Select(p => System.Text.Json.Nodes.JsonValue.Create(p))]),
            });
            return new RestoreRecoveryOutcome(backupId, done, [.. parts], null);
        }
        finally
        {
            restoring.Release();
        }
    }

    private static StructuredError NothingWritten(StructuredError error) =>
        error with { Message = $"{error.Message} (reading the state the restore would replace; nothing was restored)" };

    // Writes the plan in order; on a failure puts back what was written and answers the error (null: everything written).
    private async Task<StructuredError?> WriteAsync(string backupId, ImmutableArray<PlannedWrite> plan, CancellationToken ct)
    {
        for (var i = 0; i < plan.Length; i++)
        {
            (StructuredError? Error, bool MayHaveLanded) failed;
            if (ct.IsCancellationRequested)
                failed = (Cancelled, false);
            else
            {
                try
                {
                    failed = await ApplyAsync(plan[i].Forward, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    failed = (Cancelled, true);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    log.LogError(e, "Backup {Backup}: writing the {Part} failed", backupId, plan[i].Forward.Part);
                    failed = (Errors.Internal($"{e.GetType().Name} while writing"), true);
                }
            }
            if (failed.Error is { } cause) return await PutBackAsync(backupId, plan, i, failed.MayHaveLanded, cause).ConfigureAwait(false);
        }
        return null;
    }

    private static readonly StructuredError Cancelled = StructuredError.Create("Cancelled", "the restore was cancelled", retryable: true);

    // Never cancelled: the caller's cancellation is what may have stopped the restore; each request is still bounded by the
    // ask timeout. Every step is tried, whatever failed before it.
    private async Task<StructuredError> PutBackAsync(string backupId, ImmutableArray<PlannedWrite> plan, int failedAt, bool mayHaveLanded, StructuredError cause)
    {
        var failedPart = plan[failedAt].Forward.Part;
        var undo = RestorePlans.Undo(plan, failedAt, mayHaveLanded);
        var notPutBack = new List<string>();
        foreach (var step in undo)
        {
            StructuredError? failed;
            try
            {
                (failed, _) = await ApplyAsync(step, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                log.LogError(e, "Backup {Backup}: putting back the {Part} failed", backupId, step.Part);
                failed = Errors.Internal(e.GetType().Name);
            }
            if (failed is null) continue;
            log.LogError("Backup {Backup}: putting back the {Part} failed: {Error} {Message}", backupId, step.Part, failed.ErrorType, failed.Message);
            notPutBack.Add(step.Part);
        }
        if (notPutBack.Count == 0)
        {
            log.LogWarning("Backup {Backup} not restored ({Part}: {Error}); {Count} part(s) put back", backupId, failedPart, cause.ErrorType, undo.Length);
            return RestorePlans.NothingRestored(backupId, cause, failedPart, [.. undo.Select(u => u.Part)]);
        }
        var incomplete = RestorePlans.PutBackFailed(backupId, cause, failedPart, notPutBack);
        RaiseCritical(incomplete, backupId, notPutBack);
        return incomplete;
    }

    private void RaiseCritical(StructuredError incomplete, string backupId, IReadOnlyList<string> notPutBack) =>
        RaiseCritical(incomplete.Message, new System.Text.Json.Nodes.JsonObject
        {
            ["backup_id"] = backupId,
            ["parts_not_put_back"] = new System.Text.Json.Nodes.JsonArray([.. notPutBack.Select(p => System.Text.Json.Nodes.JsonValue.Create(p))]),
        });

    private void RaiseCritical(string message, System.Text.Json.Nodes.JsonObject context)
    {
        if (services.GetService<ActorSystem>() is { } system)
            system.EventStream.Publish(new SystemAlertRaised(AlertComponent, AlertSeverity.Critical, message, StoredJson.Parse(context.ToJsonString())));
        else
            log.LogCritical("No actor system to raise the alert: {Message}", message);
    }

    /// <summary>The component name of the alerts the backup service raises.</summary>
    public const string AlertComponent = "backup";

    // One write: no error when it is done; else the error and whether the write may have landed all the same (its answer
    // lost: a timeout, an answer that is not the entity's). A shared write goes through the optimistic lock, re-read and
    // retried when another writer got in between (the restore's value wins: concurrent writes to the parts a restore writes
    // may be overwritten).
    private async Task<(StructuredError? Error, bool MayHaveLanded)> ApplyAsync(RestoreStep step, CancellationToken ct)
    {
        switch (step)
        {
            case ReplaceAgentState r:
                return Outcome<PersistentStateReplies.RestoreResult>(await target.PersistentAsync(
                    new PersistentStateCommands.RestoreState(r.Snapshot.Agent, r.Snapshot, r.PutBack), ct).ConfigureAwait(false));
            case DeleteSharedKey d:
            {
                var reply = await target.SharedAsync(new SharedStateCommands.DeleteShared(d.Key, Restorer), ct).ConfigureAwait(false);
                return reply is StateRefused { Error.ErrorType: "KeyNotFound" } ? (null, false) : Outcome<SharedStateReplies.DeleteResult>(reply);
            }
            case WriteSharedKey w:
            {
                var expected = w.ExpectedVersion;
                for (var attempt = 1; ; attempt++)
                {
                    if (expected is null)
                    {
                        var read = await target.SharedAsync(new SharedStateQueries.GetShared(w.Key), ct).ConfigureAwait(false);
                        if (read is not SharedStateReplies.GetResult g) return (Outcome<SharedStateReplies.GetResult>(read).Error, false); // only refused writes (conflicts) came before
                        expected = g.Found ? g.Version : 0;
                    }
                    var reply = await target.SharedAsync(new SharedStateCommands.SetShared(w.Key, w.Value, expected.Value, w.Writer), ct).ConfigureAwait(false);
                    if (reply is StateRefused { Error.ErrorType: "VersionConflict" } && attempt < SharedWriteAttempts)
                    {
                        expected = null;
                        continue;
                    }
                    return Outcome<SharedStateReplies.SetResult>(reply);
                }
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.GetType().Name, "not a restore step");
        }
    }

    private static (StructuredError? Error, bool MayHaveLanded) Outcome<TDone>(IStateReply reply) => reply switch
    {
        TDone => (null, false),
        StateRefused refused => (refused.Error, RestorePlans.MayHaveLanded(refused.Error)),
        _ => (Errors.Internal($"unexpected answer of a state entity: {reply.GetType().Name}"), true),
    };

    private static readonly Principal Restorer = Principal.ForUser("backup-restore");

    private async Task<(ImmutableArray<SharedEntry> Entries, StructuredError? Error)> ExportSharedAsync(CancellationToken ct)
    {
        var parts = await Task.WhenAll(Enumerable.Range(0, SharedStatePartitions.Count)
            .Select(p => target.SharedAsync(new SharedStateQueries.ExportPartition(p), ct))).ConfigureAwait(false);
        var all = ImmutableArray.CreateBuilder<SharedEntry>();
        foreach (var part in parts)
        {
            switch (part)
            {
                case SharedStateReplies.PartitionExport export: all.AddRange(export.Entries); break;
                case StateRefused refused: return ([], refused.Error);
                default: return ([], Errors.Internal($"unexpected answer of a shared-state partition: {part.GetType().Name}"));
            }
        }
        return (all.ToImmutable(), null);
    }

    private async Task<(BackupContents? Contents, StructuredError? Error)> GatherAsync(BackupScope scope, CancellationToken ct)
    {
        var names = scope.Agent is { } one
            ? [one]
            : identities.Current.Agents.Keys.Select(AgentName.Parse).OrderBy(a => a.Value, StringComparer.Ordinal).ToList();
        var agents = ImmutableArray.CreateBuilder<PersistentStateSnapshot>(names.Count);
        foreach (var name in names)
        {
            var reply = await target.PersistentAsync(new PersistentStateQueries.ExportState(name), ct).ConfigureAwait(false);
            switch (reply)
            {
                case PersistentStateReplies.ExportResult export: agents.Add(export.Snapshot); break;
                case StateRefused refused: return (null, refused.Error);
                default: return (null, Errors.Internal($"unexpected answer of the persistent state of '{name}': {reply.GetType().Name}"));
            }
        }
        var shared = ImmutableArray<BackedUpSharedEntry>.Empty;
        if (scope.IsFull)
        {
            var (entries, error) = await ExportSharedAsync(ct).ConfigureAwait(false);
            if (error is not null) return (null, error);
            shared = [.. entries.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => new BackedUpSharedEntry(e.Key, e.Version, e.Value, e.Writer, e.UpdatedAt))];
        }
        return (new BackupContents(BackupFormat.ContentsVersion, scope.ToString(), agents.ToImmutable(), shared), null);
    }
}
