using KruxOS.Core.Agents;
using KruxOS.Core.Alerts;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Comms;
using KruxOS.Core.Errors;
using KruxOS.Core.Scheduling;
using KruxOS.Core.State;
using KruxOS.Core.State.Backups;
using KruxOS.Core.State.Briefings;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Session;
using KruxOS.Core.State.Shared;
using KruxOS.Core.State.Snapshots;
using KruxOS.Core.Vault;

namespace KruxOS.Actors.Tests.Serialization;

/// <summary>
/// Round-trip samples of every wire type of the state, comms, scheduler and alert domains (issues 18 and 19):
/// commands, events, snapshots and replies. <see cref="SerializerSpecs"/> runs each through the serializer
/// and fails when a wire type has no sample here.
/// </summary>
internal static class DomainStateSamples
{
    private static readonly DateTimeOffset At = new(2026, 3, 25, 14, 0, 0, TimeSpan.Zero);
    private static readonly AgentName Agent = AgentName.Parse("builder");
    private static readonly StoredJson Value = StoredJson.Parse("""{"list":[1,"é",null,true],"n":-1.5e3}""");

    public static IEnumerable<object> All() => [.. State(), .. Backups(), .. Shared(), .. Session(), .. Snapshots(), .. Comms(), .. Scheduler(), .. Alerts()];

    private static IEnumerable<object> State()
    {
        var persistent = PersistentState.Empty(Agent)
            .Apply(new PersistentStateEvents.ValueSet("plan", 1, Value, 1, At))
            .Apply(new PersistentStateEvents.ValueSet("plan", 2, StoredJson.Null, 1, At.AddMinutes(1)));
        yield return new StateRefused(StateErrors.QuotaExceeded("persistent", 100, 90, 120));
        yield return new PersistentStateCommands.SetValue(Agent, "plan", Value);
        yield return new PersistentStateCommands.DeleteKey(Agent, "plan");
        yield return new PersistentStateQueries.GetValue(Agent, "plan", 2);
        yield return new PersistentStateQueries.ListKeys(Agent, "pl");
        yield return new PersistentStateQueries.QueryPrefix(Agent, "pl");
        yield return new PersistentStateQueries.GetHistory(Agent, "plan", 5);
        yield return new PersistentStateQueries.GetUsage(Agent);
        yield return new PersistentStateEvents.ValueSet("plan", 101, Value, 2, At);
        yield return new PersistentStateEvents.KeyDeleted("plan", 101, At);
        yield return new PersistentStateReplies.GetResult(Value, 2, true, At, At);
        yield return new PersistentStateReplies.SetResult(2, 1);
        yield return new PersistentStateReplies.DeleteResult(true);
        yield return new PersistentStateReplies.ListResult([new PersistentStateReplies.ListEntry("plan", 2, 140, At)], 1, 140);
        yield return new PersistentStateReplies.QueryResult([new PersistentStateReplies.QueryEntry("plan", Value, 2, At, At)], 1);
        yield return new PersistentStateReplies.HistoryResult([new PersistentStateReplies.HistoryEntry(Value, 2, At, At)], 1);
        yield return new PersistentStateReplies.UsageResult(140, 1000, 14, 1);
        yield return persistent.ToSnapshot();
    }

    private static IEnumerable<object> Shared()
    {
        var writer = Principal.ForAgent(Agent);
        var grant = new SharedQuotaReplies.GrantReply(7, 4096, 3, false, 8192, 524288000, 42);
        var request = new SharedQuotaCommands.RequestGrant(7, 3, 100, 200, 42);
        var partition = SharedPartitionState.Empty(SharedStatePartitions.Of("k"))
            .Apply(new SharedStateEvents.GrantChanged(4096, 1, At))
            .Apply(new SharedStateEvents.ValueSet("k", 1, Value, writer, At))
            .Apply(new SharedStateEvents.ValueSet("gone", 4, Value, writer, At));
        yield return new SharedStateCommands.SetShared("k", Value, 0, writer);
        yield return new SharedStateCommands.DeleteShared("k", Principal.ForUser("ops"));
        yield return new SharedStateCommands.AdoptGrant(grant);
        yield return new SharedStateCommands.ReleaseSlack(7);
        yield return new SharedStateQueries.GetShared("k");
        yield return new SharedStateQueries.ListShared(7, "k");
        yield return new SharedStateQueries.GetPartitionUsage(7);
        yield return new SharedStateEvents.ValueSet("k", 2, Value, writer, At);
        yield return new SharedStateEvents.KeyDeleted("k", 2, writer, "old", At);
        yield return new SharedStateEvents.GrantChanged(4096, 3, At);
        yield return new SharedStateReplies.GetResult(Value, 2, true, "builder", At);
        yield return new SharedStateReplies.SetResult(2);
        yield return new SharedStateReplies.DeleteResult(true);
        yield return new SharedStateReplies.ListResult([new SharedStateReplies.ListEntry("k", 2, 90, "user:ops", At)], 1, 90);
        yield return new SharedStateReplies.WatchResult("sub-0123456789abcdef");
        yield return new SharedStateReplies.PartitionUsage(7, 1, 90, 4096, 2);
        yield return new SharedStateReplies.GrantState(4096, 3);
        yield return new SharedStateReplies.GrantNeeded(request);
        yield return new SharedStateReplies.GrantReleased(new SharedQuotaCommands.ReleaseGrant(7, 4, 1024));
        yield return new SharedStateChange("k", 2, SharedChangeKind.Deleted, "builder", At);
        yield return new SharedWatch("sub-0123456789abcdef", Agent, "sess-1", "deploy/", At);
        yield return new SharedWatchEvent("sub-0123456789abcdef", "deploy/x", 3, SharedChangeKind.Set, "reviewer", At);
        yield return partition.ApplyAll([new SharedStateEvents.KeyDeleted("gone", 4, writer, null, At)]).ToSnapshot();
        yield return request;
        yield return new SharedQuotaCommands.ReleaseGrant(7, 4, 1024);
        yield return SharedQuotaCommands.GetLedgerUsage.Instance;
        yield return new SharedQuotaEvents.GrantRecorded(7, 4096, 3, At);
        yield return grant;
        yield return new SharedQuotaReplies.LedgerUsage(8192, 524288000, 2);
        yield return SharedQuotaLedger.Empty.Apply(new SharedQuotaEvents.GrantRecorded(7, 4096, 3, At)).ToSnapshot();
    }

    private static IEnumerable<object> Backups()
    {
        var persistent = PersistentState.Empty(Agent).Apply(new PersistentStateEvents.ValueSet("plan", 1, Value, 1, At)).ToSnapshot();
        yield return new PersistentStateCommands.RestoreState(Agent, persistent);
        yield return new PersistentStateQueries.ExportState(Agent);
        yield return new PersistentStateEvents.StateRestored(persistent, At);
        yield return new PersistentStateReplies.ExportResult(persistent);
        yield return new PersistentStateReplies.RestoreResult(1, 140);
        yield return new BackupContents(1, "full", [persistent], [new BackedUpSharedEntry("k", 3, Value, Principal.ForAgent(Agent), At)]);
        var vault = new VaultHeader(VaultKdf.Default(new VaultBytes(new byte[16])), "aes-256-gcm",
            new SealedValue(new VaultBytes(new byte[12]), new VaultBytes(new byte[48])), At);
        yield return BackupFormat.NewHeader("bkp-20260325T140000", At, BackupScope.Full, [Agent], 10, vault);
        yield return new BackupReplies.CreateResult("bkp-20260325T140000", At, 1000, "full");
        yield return new BackupReplies.ListResult([new BackupCatalogEntry("bkp-20260325T140000", At, "agent:builder", 1000)], 1);
        yield return new BackupReplies.RestoreResult(true, ["builder"], true, 3, 1);
        yield return new BackupReplies.ExportResult("/workspace/b.kbak", 1000);
        yield return new SharedStateQueries.ExportPartition(3);
        yield return new SharedStateReplies.PartitionExport(3, [new SharedEntry("k", 3, Value, Principal.ForAgent(Agent), At)]);
    }

    private static IEnumerable<object> Session()
    {
        const string session = "sess-0123456789abcdef";
        var state = SessionState.Empty(Agent, session).Apply(new SessionStateEvents.SessionValueSet("k", Value, At));
        yield return new SessionStateCommands.GetSessionValue(Agent, session, "k");
        yield return new SessionStateCommands.SetSessionValue(Agent, session, "k", Value);
        yield return new SessionStateCommands.DeleteSessionValue(Agent, session, "k");
        yield return new SessionStateCommands.ListSessionKeys(Agent, session, "k");
        yield return new SessionStateCommands.ClearSession(Agent, session);
        yield return new SessionStateEvents.SessionValueSet("k", Value, At);
        yield return new SessionStateEvents.SessionValueDeleted("k", At);
        yield return new SessionStateEvents.SessionCleared(At);
        yield return new SessionStateReplies.GetResult(Value, true);
        yield return new SessionStateReplies.SetResult(StoredJson.Null, false);
        yield return new SessionStateReplies.DeleteResult(Value, true);
        yield return new SessionStateReplies.ListResult(["a", "k"], 2);
        yield return new SessionStateReplies.ClearResult(2);
        yield return state.Checkpoint(At);
    }

    private static IEnumerable<object> Snapshots()
    {
        var inputs = new SystemSnapshotInputs(new SnapshotGateway("0.1.0", "node-1", 60),
            [new SnapshotAgent("builder", "active", false, "default", At, true, 1)],
            new SnapshotApprovals(1, 0, 0, 0, 0, 0, [new SnapshotPendingApproval("appr-0123456789abcdef", "builder", "process.run", At)]),
            new SnapshotAlerts(1, 0, 1, 0, 0),
            new SnapshotHealth("healthy", [new SnapshotService("audit", "healthy", "")]),
            new SnapshotResources(1, 2, 3),
            new SnapshotStateStatistics([new SnapshotAgentState("builder", 1, 100, 1000)], new SnapshotSharedState(1, 90, 5000), new SnapshotSessionState(1, 10)));
        var created = SystemSnapshots.Create(inputs, At, []).Snapshot!;
        yield return created.Document;
        yield return new SnapshotReplies.CreateResult(created.Entry.SnapshotId, At, created.Entry.SizeBytes);
        yield return new SnapshotReplies.ListResult([created.Entry], 1);
        yield return new SnapshotReplies.LoadResult(StoredJson.Parse(System.Text.Encoding.UTF8.GetString(created.Bytes)));
        yield return Briefings.Generate(new BriefingInputs(Agent, At, At, [new BriefingApprovalDecision("appr-1", "process.run", "approved", At.AddMinutes(1))], 0,
            [new BriefingSharedChange("k", 1, SharedChangeKind.Set, "reviewer", At.AddMinutes(1))], [], [], [], [], [], new BriefingHealth("healthy", [])),
            null, "detailed", At.AddHours(1));
    }

    private static IEnumerable<object> Comms()
    {
        var message = new CommsMessage("msg-0123456789abcdef", "reviewer", Agent, null, MessagePriority.High, "hello\nworld", At, ["user:ops", "reviewer"]);
        var onChannel = message with { MessageId = "msg-00000000000000ff", To = null, Channel = "ops", Delegation = [] };
        var inbox = InboxState.Empty(Agent)
            .Apply(new InboxEvents.SubscriptionAdded("ops", "chsub-0123456789abcdef", At))
            .Apply(new InboxEvents.MessageQueued(message, 1, At))
            .Apply(new InboxEvents.MessageQueued(onChannel, 2, At))
            .Apply(new InboxEvents.MessagesAcknowledged([1], At));
        var channel = ChannelState.Empty("ops").Apply(new ChannelEvents.ChannelJoined(Agent, "chsub-0123456789abcdef", At));
        yield return message;
        yield return new CommsRefused(CommsErrors.InboxFull(Agent, 1000, 16 << 20, false));
        yield return new InboxCommands.Deliver(Agent, message);
        yield return new InboxCommands.Receive(Agent, 5, "ops", false);
        yield return new InboxCommands.Subscribe(Agent, "ops", "chsub-0123456789abcdef");
        yield return new InboxCommands.Unsubscribe(Agent, "ops");
        yield return new InboxCommands.GetInboxStatus(Agent);
        yield return new InboxEvents.MessageQueued(message, 1, At);
        yield return new InboxEvents.MessagesAcknowledged([1, 2], At);
        yield return new InboxEvents.SubscriptionAdded("ops", "chsub-0123456789abcdef", At);
        yield return new InboxEvents.SubscriptionRemoved("ops", At);
        yield return new InboxReplies.Delivered("msg-0123456789abcdef", false);
        yield return new InboxReplies.ReceiveResult([new InboxReplies.ReceivedMessage("msg-0123456789abcdef", "reviewer", "hello", MessagePriority.Low, At, null)], 3);
        yield return new InboxReplies.SubscribeResult("chsub-0123456789abcdef", "ops");
        yield return new InboxReplies.UnsubscribeResult(true);
        yield return new InboxReplies.InboxStatus(1, 300, [new InboxReplies.UnreadHeader("msg-00000000000000ff", "reviewer", MessagePriority.Normal, At, "ops")]);
        yield return inbox.ToSnapshot();
        yield return new ChannelCommands.JoinChannel("ops", Agent, "chsub-0123456789abcdef");
        yield return new ChannelCommands.LeaveChannel("ops", Agent);
        yield return new ChannelCommands.PlanFanOut("ops", "reviewer");
        yield return new ChannelEvents.ChannelJoined(Agent, "chsub-0123456789abcdef", At);
        yield return new ChannelEvents.ChannelLeft(Agent, At);
        yield return new ChannelReplies.Joined("ops", "chsub-0123456789abcdef");
        yield return new ChannelReplies.Left("ops", true);
        yield return new ChannelReplies.FanOut("ops", [Agent]);
        yield return channel.ToSnapshot();
        yield return new SendReplies.SendResult("msg-0123456789abcdef", "queued", "builder");
        yield return new SendReplies.BroadcastResult("msg-0123456789abcdef", 3, 2, 1);
    }

    private static IEnumerable<object> Scheduler()
    {
        var capability = CapabilityName.Parse("system.time");
        var job = new ScheduledJob("cron-0123456789abcdef", JobKind.Cron, capability, StoredJson.EmptyObject, "*/5 * * * *", "clock", At,
            At.AddMinutes(5), null, null, null);
        var run = new ScheduledRun(job.JobId, JobIds.RunId(job.JobId, At), Agent, capability, StoredJson.EmptyObject, At, "schedule");
        yield return new SchedulerCommands.CreateCron(Agent, job.JobId, capability, StoredJson.EmptyObject, "*/5 * * * *", "clock");
        yield return new SchedulerCommands.CreateDelay(Agent, "dly-0123456789abcdef", capability, Value, 90, null);
        yield return new SchedulerCommands.DeleteJob(Agent, job.JobId);
        yield return new SchedulerCommands.ListJobs(Agent);
        yield return new SchedulerCommands.Tick(Agent);
        yield return new SchedulerCommands.FinishRun(Agent, job.JobId, run.RunId, true);
        yield return new SchedulerCommands.Suspend(Agent, SuspendReason.Revoked);
        yield return new SchedulerCommands.Resume(Agent, SuspendReason.Paused);
        yield return new SchedulerEvents.JobCreated(job, At);
        yield return new SchedulerEvents.JobDeleted(job.JobId, At);
        yield return new SchedulerEvents.JobFired(job.JobId, run.RunId, At, At.AddMinutes(5), At);
        yield return new SchedulerEvents.JobSkipped(job.JobId, At, At.AddHours(1), SchedulerStateExtensions.MissedReason, At.AddHours(1), false, At);
        yield return new SchedulerEvents.RunFinished(job.JobId, run.RunId, false, At);
        yield return new SchedulerEvents.RunInterrupted(job.JobId, run.RunId, At);
        yield return new SchedulerEvents.SchedulerSuspended(SuspendReason.Paused, At);
        yield return new SchedulerEvents.SchedulerResumed(SuspendReason.Paused, [new JobDue(job.JobId, At.AddMinutes(10))], ["dly-0123456789abcdef"], At);
        yield return new SchedulerRefused(SchedulerErrors.InvalidCronExpression("* * *", "expected 5 fields"));
        yield return new SchedulerReplies.CronCreated(job.JobId, "*/5 * * * *", At.AddMinutes(5), "system.time");
        yield return new SchedulerReplies.DelayCreated("dly-0123456789abcdef", At, "system.time");
        yield return new SchedulerReplies.DeleteResult(true, job.JobId);
        yield return new SchedulerReplies.JobList([new SchedulerReplies.JobEntry(job.JobId, "system.time", Value, null, null, "", false, At)], 1);
        yield return new SchedulerReplies.TickResult([run], [new SkippedRuns(job.JobId, At, At.AddMinutes(5), SchedulerStateExtensions.OverlapReason)], At.AddMinutes(5));
        yield return new SchedulerReplies.Ack(true);
        yield return SchedulerState.Empty(Agent).Apply(new SchedulerEvents.JobCreated(job, At)).Apply(new SchedulerEvents.SchedulerSuspended(SuspendReason.Paused, At)).ToSnapshot();
    }

    private static IEnumerable<object> Alerts()
    {
        var store = AlertStore.Empty.ApplyAll(AlertStore.Empty.ProcessCommand(
            new AlertCommands.RaiseAlert("alrt-0123456789abcdef", "system:audit", AlertSeverity.Critical, "audit chain break", Value), At, AlertLimits.Default).Events);
        var record = store.Alerts.Values.Single();
        yield return new AlertCommands.RaiseAlert("alrt-0123456789abcdef", "builder", AlertSeverity.Warning, "disk", StoredJson.EmptyObject);
        yield return new AlertCommands.AcknowledgeAlert("alrt-0123456789abcdef", AlertViewer.ForAgent(Agent), "builder");
        yield return new AlertCommands.ListAlerts(AlertViewer.Operator, AlertStatusFilter.Pending, 10);
        yield return new AlertCommands.CountPending(AlertViewer.Operator);
        yield return new AlertEvents.AlertRaised(record, ["alrt-00000000000000ff"], At);
        yield return new AlertEvents.AlertRepeated(record.AlertId, At);
        yield return new AlertEvents.AlertAcknowledged(record.AlertId, "cli:root", At);
        yield return new AlertsRefused(AlertErrors.AlertNotFound(record.AlertId));
        yield return new AlertReplies.Sent(record.AlertId, "dashboard", AlertSeverity.Critical);
        yield return new AlertReplies.AcknowledgeResult(false, record.AlertId);
        yield return new AlertReplies.ListResult([new AlertReplies.ListedAlert(record.AlertId, "m", AlertSeverity.Info, AlertStatus.Acknowledged, At, At, "cli:root", 2, At, "builder")], 1);
        yield return new AlertReplies.PendingCount(3, 1);
        yield return store.ToSnapshot();
    }
}
