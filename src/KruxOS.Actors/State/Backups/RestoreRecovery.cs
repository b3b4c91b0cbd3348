using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Hosting;
using KruxOS.Actors.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.State.Backups;

/// <summary>
/// The start-up step that finishes a restore this node was interrupted in (ADR 0060, "Crash during a restore"): once the
/// actor system is up and the state entities and the audit writer are registered, when an undo log is on disk, the put-back
/// is audited as a system action (<c>state.backup.restore</c> by <c>user:system</c>: requested, then its outcome) and
/// <see cref="BackupService.RecoverAsync"/> writes every part back. Until it has finished the <c>state</c> health check
/// reports <c>recovering</c> and no restore starts; when it cannot finish, a critical alert is raised and the log is kept for
/// the next start.
/// </summary>
internal sealed class RestoreRecovery(BackupService backups, RestoreJournal journal, IRequiredActor<PersistentStateRegion> persistent,
    IRequiredActor<SharedStateRegion> shared, IRequiredActor<AuditWriter> audit, ActorRegistry registry, TimeProvider clock,
    ILogger<RestoreRecovery> log) : BackgroundService
{
    /// <summary>Rounds over the parts that did not go back (entities may still be recovering at start-up).</summary>
    public const int Attempts = 5;

    /// <summary>The pause between rounds.</summary>
    public static readonly TimeSpan Pause = TimeSpan.FromSeconds(3);

    private static readonly Principal SystemActor = Principal.ForUser("system");
    private static readonly TimeSpan AuditTimeout = TimeSpan.FromSeconds(10);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            journal.SweepLeftovers();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            log.LogWarning("Leftovers of earlier restores were not swept: {Error}", e.GetType().Name);
        }
        if (!journal.Exists) return;
        try
        {
            await persistent.GetAsync(stoppingToken).ConfigureAwait(false);
            await shared.GetAsync(stoppingToken).ConfigureAwait(false);
            await audit.GetAsync(stoppingToken).ConfigureAwait(false);
            log.LogWarning("An undo log of an interrupted restore was found ({Path}); putting it back", journal.PathName);
            var inputs = new JsonObject { ["undo_log"] = RestoreJournal.FileName, ["interrupted"] = true };
            for (var attempt = 1; ; attempt++)
            {
                var unaudited = await AuditAsync(inputs, AuditStatus.Pending, "putting back a restore interrupted by a crash", null, stoppingToken).ConfigureAwait(false);
                if (unaudited is null) break;
                if (attempt >= Attempts)
                {
                    // As for every operator restore: nothing is written that the audit log has not accepted.
                    journal.Status = RestoreRecoveryStatus.Failed;
                    log.LogCritical("The interrupted restore was not put back: its audit entry was not written ({Reason}); the undo log is kept", unaudited);
                    return;
                }
                await Task.Delay(Pause, stoppingToken).ConfigureAwait(false);
            }
            var outcome = await backups.RecoverAsync(Attempts, Pause, stoppingToken).ConfigureAwait(false);
            inputs["backup_id"] = outcome.BackupId;
            if (outcome.Complete)
                await AuditAsync(inputs, AuditStatus.Success, $"put back {outcome.PartsPutBack} part(s) of restore {outcome.BackupId} interrupted by a crash; nothing of it remains",
                    null, stoppingToken).ConfigureAwait(false);
            else
                await AuditAsync(inputs, AuditStatus.Error, outcome switch
                    {
                        { Refused: { } refused, PartsPutBack: 0 } => $"the undo log was refused ({refused}); nothing was put back",
                        { Refused: { } partly } => $"put back {outcome.PartsPutBack} part(s) of restore {outcome.BackupId}, but {partly}",
                        _ => $"putting back restore {outcome.BackupId} failed for: {string.Join(", ", outcome.PartsNotPutBack)}; the undo log is kept",
                    },
                    "RestoreIncomplete", stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: the log stays and the next start puts it back.
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Never stops the host: the state health check stays critical and the log is kept for the next start.
            journal.Status = RestoreRecoveryStatus.Failed;
            log.LogCritical(e, "Putting back the interrupted restore failed; its undo log is kept for the next start");
        }
    }

    private async Task<string?> AuditAsync(JsonObject inputs, AuditStatus status, string summary, string? errorType, CancellationToken ct)
    {
        var entry = AuditEntry.Call(clock.GetUtcNow(), SystemActor, null, CapabilityName.Parse("state.backup.restore"),
            JsonSerializer.SerializeToElement(inputs), status, summary, null, 0, metadata: new AuditMetadata(ErrorType: errorType));
        var failed = await registry.AppendAcknowledgedAsync(entry, AuditTimeout, ct).ConfigureAwait(false);
        if (failed is not null) log.LogError("The audit entry of the restore put-back was not written: {Reason}", failed);
        return failed;
    }
}
