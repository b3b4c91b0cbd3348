using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.State;
using KruxOS.Actors.State.Backups;
using KruxOS.Audit;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Core.State;
using KruxOS.Core.State.Backups;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Shared;
using KruxOS.Gateway.Tests.Comms;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.State;

/// <summary>How <see cref="FaultyRestoreTarget"/> fails the chosen write.</summary>
public enum RestoreFault
{
    /// <summary>The write is refused by the edge (never reaches the entity).</summary>
    Refuse,
    /// <summary>The write reaches the entity and lands; its answer is lost (a <c>Timeout</c>).</summary>
    LoseAnswer,
    /// <summary>The write reaches the entity and lands; then the edge throws.</summary>
    Throw,
    /// <summary>The write reaches the entity and lands; then the caller's cancellation fires.</summary>
    Cancel,
}

/// <summary>
/// The restore's edge to the state entities with one chosen write failing (ADR 0060's test seam): the <c>N</c>th write
/// (RestoreState, SetShared, DeleteShared) after <see cref="Arm"/> fails as <see cref="RestoreFault"/> says; with
/// <c>failEveryLaterWrite</c> every write after it is refused too, so putting back fails. Reads always pass.
/// </summary>
public sealed class FaultyRestoreTarget(IRestoreTarget inner) : IRestoreTarget
{
    private readonly object _gate = new();
    private int _failAt;
    private RestoreFault _fault;
    private bool _failLater;
    private int _writes;
    private CancellationTokenSource? _cancel;
    private Func<object, bool> _match = _ => true;

    /// <summary>Writes seen since <see cref="Arm"/>.</summary>
    public int Writes { get { lock (_gate) return _writes; } }

    /// <summary>
    /// Fails write <paramref name="failAt"/> (1-based, counting the writes <paramref name="match"/> accepts; all by default) as
    /// <paramref name="fault"/>.
    /// </summary>
    public void Arm(int failAt, RestoreFault fault, bool failEveryLaterWrite = false, CancellationTokenSource? cancel = null, Func<object, bool>? match = null)
    {
        lock (_gate) (_failAt, _fault, _failLater, _writes, _cancel, _match) = (failAt, fault, failEveryLaterWrite, 0, cancel, match ?? (_ => true));
    }

    /// <summary>Every write passes.</summary>
    public void Disarm() => Arm(0, RestoreFault.Refuse);

    public Task<IStateReply> PersistentAsync(IPersistentStateMessage message, CancellationToken ct) =>
        message is IPersistentStateCommand ? WriteAsync(message, () => inner.PersistentAsync(message, ct)) : inner.PersistentAsync(message, ct);

    public Task<IStateReply> SharedAsync(ISharedStateMessage message, CancellationToken ct) =>
        message is ISharedStateCommand ? WriteAsync(message, () => inner.SharedAsync(message, ct)) : inner.SharedAsync(message, ct);

    private async Task<IStateReply> WriteAsync(object message, Func<Task<IStateReply>> write)
    {
        int n, failAt;
        RestoreFault fault;
        bool later;
        CancellationTokenSource? cancel;
        bool counted;
        lock (_gate)
        {
            counted = _match(message);
            (n, failAt, fault, later, cancel) = (counted ? ++_writes : _writes, _failAt, _fault, _failLater, _cancel);
        }
        if (!counted || failAt == 0 || n < failAt) return await write();
        if (n > failAt)
            return later ? new StateRefused(Core.Errors.Errors.ServiceUnavailable("state", "injected: the entity refuses every later write")) : await write();
        switch (fault)
        {
            case RestoreFault.Refuse:
                return new StateRefused(Core.Errors.Errors.ServiceUnavailable("state", "injected refusal"));
            case RestoreFault.LoseAnswer:
                await write();
                return new StateRefused(Core.Errors.Errors.Timeout("state", 20));
            case RestoreFault.Throw:
                await write();
                throw new InvalidOperationException("injected: the edge broke after the write landed");
            default:
                await write();
                await cancel!.CancelAsync();
                throw new OperationCanceledException(cancel.Token);
        }
    }
}

/// <summary>A backup gateway whose restore edge can fail on purpose and whose shared quota is 8 MiB (so a real quota refusal is easy).</summary>
public sealed class RestoreGateway : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public FaultyRestoreTarget Faults => Gateway.Services.GetRequiredService<FaultyRestoreTarget>();

    public async ValueTask InitializeAsync() => Gateway = await BackupGateway.StartAsync(null, b =>
    {
        b.Services.AddSingleton(sp => new FaultyRestoreTarget(new StateRestoreTarget(sp.GetRequiredService<StateAccess>())));
        b.Services.AddSingleton<IRestoreTarget>(sp => sp.GetRequiredService<FaultyRestoreTarget>());
    }, "--KruxOS:State:SharedQuotaMb", "8");

    public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>
/// A failed restore changes nothing (issue 18, ADR 0060): whether the failure is a real refusal of the shared quota after every
/// agent was written, an answer lost after the write landed, an exception, or a cancellation, every agent's persistent state
/// (values, versions, history, times) and the shared keys (values, owners, which exist) are afterwards what they were before,
/// through the operator's path (<c>kruxos backup restore</c>, audited) and the agent's (<c>state.backup.restore</c>). When
/// putting back fails too, a critical alert names the parts and the error says the restore is incomplete.
/// </summary>
public sealed class RestoreAtomicitySpecs(RestoreGateway fixture) : IClassFixture<RestoreGateway>
{
    private TestGateway Gw => fixture.Gateway;

    private StateAccess State => Gw.Services.GetRequiredService<StateAccess>();

    private static string Id() => Guid.NewGuid().ToString("N")[..8];

    private static StoredJson J(string json) => StoredJson.Parse(json);

    private async Task SetAsync(AgentName agent, string key, string json) =>
        Assert.IsType<PersistentStateReplies.SetResult>(await State.PersistentAsync(new PersistentStateCommands.SetValue(agent, key, J(json)), CancellationToken.None));

    private async Task DeleteAsync(AgentName agent, string key) =>
        Assert.IsType<PersistentStateReplies.DeleteResult>(await State.PersistentAsync(new PersistentStateCommands.DeleteKey(agent, key), CancellationToken.None));

    private async Task<long> SharedSetAsync(string key, string json, AgentName writer)
    {
        var now = Assert.IsType<SharedStateReplies.GetResult>(await State.SharedAsync(new SharedStateQueries.GetShared(key), CancellationToken.None));
        var set = await State.SharedAsync(new SharedStateCommands.SetShared(key, J(json), now.Found ? now.Version : 0, Principal.ForAgent(writer)), CancellationToken.None);
        return set is SharedStateReplies.SetResult ok ? ok.Version : throw new Xunit.Sdk.XunitException($"setting shared key {key}: {JsonSerializer.Serialize(set, CoreJson.Options)}");
    }

    // Three agents, each with a key of two versions and a second key; the full backup is taken here.
    private async Task<(AgentName[] Agents, string BackupId)> ArrangeAgentsAndBackUpAsync(string tag, Func<AgentName[], Task>? beforeBackup = null)
    {
        var agents = new AgentName[3];
        for (var i = 0; i < agents.Length; i++)
        {
            agents[i] = AgentName.Parse($"{tag}{i}-{Id()}");
            await Gw.CreateAgentAsync(agents[i].Value);
            await SetAsync(agents[i], "k", "\"backed-up-1\"");
            await SetAsync(agents[i], "k", "\"backed-up-2\"");
            await SetAsync(agents[i], "gone-later", "1");
        }
        if (beforeBackup is not null) await beforeBackup(agents);
        var backupId = (await Gw.ControlAsync(ControlProtocol.Methods.BackupCreate))["backup_id"]!.GetValue<string>();
        // After the backup every agent changes: new versions, a key deleted, a key added.
        foreach (var a in agents)
        {
            await SetAsync(a, "k", "\"current-3\"");
            await DeleteAsync(a, "gone-later");
            await SetAsync(a, "new", "{\"n\":1}");
        }
        return (agents, backupId);
    }

    // Every agent's state exactly as stored (keys, versions, values, times), as JSON.
    private async Task<Dictionary<string, string>> PersistentImageAsync()
    {
        var image = new Dictionary<string, string>(StringComparer.Ordinal);
        var agents = (await Gw.ControlAsync(ControlProtocol.Methods.AgentList))["agents"]!.AsArray().Select(a => a!["name"]!.GetValue<string>());
        foreach (var name in agents)
        {
            var export = Assert.IsType<PersistentStateReplies.ExportResult>(
                await State.PersistentAsync(new PersistentStateQueries.ExportState(AgentName.Parse(name)), CancellationToken.None));
            image[name] = JsonSerializer.Serialize(export.Snapshot, CoreJson.Options);
        }
        return image;
    }

    // Every live shared key: its value, version and owner.
    private async Task<ImmutableSortedDictionary<string, SharedEntry>> SharedImageAsync()
    {
        var all = ImmutableSortedDictionary.CreateBuilder<string, SharedEntry>(StringComparer.Ordinal);
        for (var p = 0; p < SharedStatePartitions.Count; p++)
        {
            var part = Assert.IsType<SharedStateReplies.PartitionExport>(await State.SharedAsync(new SharedStateQueries.ExportPartition(p), CancellationToken.None));
            foreach (var e in part.Entries) all[e.Key] = e;
        }
        return all.ToImmutable();
    }

    private static void AssertSharedPutBack(ImmutableSortedDictionary<string, SharedEntry> before, ImmutableSortedDictionary<string, SharedEntry> after)
    {
        // The same keys with the same values and owners. Versions never go back (ADR 0035/0042): a key written and put back
        // is at a newer version, so a writer holding a version from during the restore gets VersionConflict.
        Assert.Equal(before.Keys, after.Keys);
        foreach (var (key, was) in before)
        {
            Assert.True(was.Value.Text == after[key].Value.Text, $"shared key {key}: {was.Value.Text} before, {after[key].Value.Text} after");
            Assert.Equal(was.Writer, after[key].Writer);
            Assert.True(after[key].Version >= was.Version, $"shared key {key} went back from version {was.Version} to {after[key].Version}");
        }
    }

    private static void AssertPersistentPutBack(Dictionary<string, string> before, Dictionary<string, string> after)
    {
        Assert.Equal(before.Keys.Order(StringComparer.Ordinal), after.Keys.Order(StringComparer.Ordinal));
        foreach (var (agent, was) in before) Assert.True(was == after[agent], $"persistent state of {agent} changed:\nbefore {was}\nafter  {after[agent]}");
    }

    private async Task<ControlResponse> OperatorRestoreAsync(string backupId)
    {
        var commands = Gw.Services.GetRequiredService<KruxOS.Gateway.Control.ControlCommands>();
        return ControlResponse.Parse(await commands.ExecuteAsync(null, ControlProtocol.Methods.BackupRestore, new JsonObject { ["backup_id"] = backupId },
            CancellationToken.None));
    }

    [Fact]
    public async Task Should_put_every_agent_back_when_the_shared_quota_refuses_a_key_after_every_agent_was_written()
    {
        // arrange: the backup holds five big shared keys "a*" and five small "b*"; now the "a*" are small and the "b*" big.
        // Restoring writes the "a*" (ordinal order) while the "b*" are still big: over the 8 MiB shared quota by the fourth,
        // a real refusal of the quota ledger after every agent was written. (5 MB either way fits, with room for the slack
        // partitions keep.)
        fixture.Faults.Disarm();
        var tag = Id();
        var big = "\"" + new string('x', 1_000_000) + "\"";
        string[] keysA = [.. Enumerable.Range(0, 5).Select(i => $"rq-{tag}-a{i}")];
        string[] keysB = [.. Enumerable.Range(0, 5).Select(i => $"rq-{tag}-b{i}")];
        var (agents, backupId) = await ArrangeAgentsAndBackUpAsync("rq", async a =>
        {
            foreach (var k in keysA) await SharedSetAsync(k, big, a[0]);
            foreach (var k in keysB) await SharedSetAsync(k, "\"small\"", a[1]);
        });
        foreach (var k in keysA) await SharedSetAsync(k, "\"small\"", agents[2]);
        foreach (var k in keysB) await SharedSetAsync(k, big, agents[2]);
        var createdAfter = $"rq-{tag}-created-after";
        await SharedSetAsync(createdAfter, "{\"after\":true}", agents[0]);
        var persistentBefore = await PersistentImageAsync();
        var sharedBefore = await SharedImageAsync();

        // act: the operator restores everything (kruxos backup restore)
        var restore = await OperatorRestoreAsync(backupId);

        // assert: one error that says nothing was restored; every agent and every shared key as before
        Assert.False(restore.Ok, restore.Result?.ToJsonString());
        Assert.Equal("QuotaExceeded", restore.ErrorType);
        AssertPersistentPutBack(persistentBefore, await PersistentImageAsync());
        AssertSharedPutBack(sharedBefore, await SharedImageAsync());
        Assert.Contains("Nothing was restored", restore.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains($"writing the shared key rq-{tag}-a", restore.ErrorMessage, StringComparison.Ordinal);
        // the put-back completed: its undo log is gone and nothing is pending
        Assert.False(Gw.Services.GetRequiredService<RestoreJournal>().Exists);
        Assert.Equal(RestoreRecoveryStatus.Clear, Gw.Services.GetRequiredService<RestoreJournal>().Status);
        var history = Assert.IsType<PersistentStateReplies.HistoryResult>(
            await State.PersistentAsync(new PersistentStateQueries.GetHistory(agents[0], "k"), CancellationToken.None));
        Assert.Equal(["\"current-3\"", "\"backed-up-2\"", "\"backed-up-1\""], history.Versions.Select(v => v.Value.Text));
        Assert.Equal([3L, 2L, 1L], history.Versions.Select(v => v.Version));
        // Audited as today: requested, then one outcome (the error).
        var audit = new AuditReader(Path.Combine(Gw.DataDir, "audit"));
        var entries = (await audit.QueryAsync(new AuditQuery { Capability = "state.backup.restore" }, CancellationToken.None)).Entries
            .Where(e => e.Entry.Inputs.GetRawText().Contains(backupId, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, entries.Count);
        Assert.Contains(entries, e => e.Entry.Status == AuditStatus.Pending);
        Assert.Contains(entries, e => e.Entry.Status == AuditStatus.Error && e.Entry.Metadata.ErrorType == "QuotaExceeded");
    }

    [Fact]
    public async Task Should_put_back_every_agent_and_shared_key_when_an_answer_is_lost_after_the_write_landed()
    {
        // arrange: a shared key changed after the backup, one created after it, one deleted after it
        fixture.Faults.Disarm();
        var tag = Id();
        var (agents, backupId) = await ArrangeAgentsAndBackUpAsync("lost", async a =>
        {
            await SharedSetAsync($"lost-{tag}-changed", "\"backed-up\"", a[0]);
            await SharedSetAsync($"lost-{tag}-deleted", "\"backed-up\"", a[1]);
        });
        await SharedSetAsync($"lost-{tag}-changed", "\"current\"", agents[2]);
        Assert.IsType<SharedStateReplies.DeleteResult>(await State.SharedAsync(
            new SharedStateCommands.DeleteShared($"lost-{tag}-deleted", Principal.ForAgent(agents[2])), CancellationToken.None));
        await SharedSetAsync($"lost-{tag}-created", "\"current\"", agents[1]);
        var persistentBefore = await PersistentImageAsync();
        var sharedBefore = await SharedImageAsync();

        // act: the write of the third of these agents lands, its answer is lost; then the last write of the plan (a shared key)
        // does the same
        fixture.Faults.Arm(3, RestoreFault.LoseAnswer, match: m => m is PersistentStateCommands.RestoreState r && agents.Contains(r.Agent));
        var third = await OperatorRestoreAsync(backupId);
        var persistentAfterThird = await PersistentImageAsync();
        var sharedAfterThird = await SharedImageAsync();
        // (re-creating the key deleted after the backup is the plan's last write)
        fixture.Faults.Arm(1, RestoreFault.LoseAnswer, match: m => m is SharedStateCommands.SetShared { Key: var key } && key == $"lost-{tag}-deleted");
        var last = await OperatorRestoreAsync(backupId);
        fixture.Faults.Disarm();

        // assert
        AssertPersistentPutBack(persistentBefore, persistentAfterThird);
        AssertSharedPutBack(sharedBefore, sharedAfterThird);
        Assert.False(third.Ok);
        Assert.Equal("Timeout", third.ErrorType);
        Assert.Contains("Nothing was restored: the ", third.ErrorMessage, StringComparison.Ordinal);
        Assert.Contains("persistent state of " + agents[2], third.ErrorMessage, StringComparison.Ordinal);
        Assert.False(last.Ok);
        Assert.Equal("Timeout", last.ErrorType);
        AssertPersistentPutBack(persistentBefore, await PersistentImageAsync());
        AssertSharedPutBack(sharedBefore, await SharedImageAsync());
        // The same backup restores once nothing fails (the put-back left nothing behind that stops it).
        var ok = await OperatorRestoreAsync(backupId);
        Assert.True(ok.Ok, ok.ErrorMessage);
        Assert.False(Gw.Services.GetRequiredService<RestoreJournal>().Exists);
        Assert.Equal("\"backed-up\"", (await SharedImageAsync())[$"lost-{tag}-deleted"].Value.Text);
        Assert.False((await SharedImageAsync()).ContainsKey($"lost-{tag}-created"));
    }

    [Fact]
    public async Task Should_put_an_agents_own_state_back_when_its_restore_breaks_after_the_write_landed()
    {
        // arrange: the agent's own backup, then changes
        fixture.Faults.Disarm();
        var name = AgentName.Parse("self-" + Id());
        var token = await Gw.CreateAgentAsync(name.Value);
        await SetAsync(name, "k", "\"backed-up\"");
        var backupId = (await Rpc.OkAsync(Gw.GatewayPort, token, "state.backup.create", new JsonObject { ["agent"] = name.Value }))["backup_id"]!.GetValue<string>();
        await SetAsync(name, "k", "\"current\"");
        await SetAsync(name, "other", "2");
        var before = await PersistentImageAsync();

        // act: state.backup.restore over a real socket; the edge throws after the entity took the backup's state
        fixture.Faults.Arm(1, RestoreFault.Throw);
        var error = await Rpc.ErrorAsync(Gw.GatewayPort, token, "state.backup.restore", new JsonObject { ["backup_id"] = backupId });
        fixture.Faults.Disarm();

        // assert
        Assert.Equal("InternalError", error["type"]!.GetValue<string>());
        Assert.False(error["context"]!["restored"]!.GetValue<bool>(), error.ToJsonString());
        Assert.Contains("Nothing was restored", error.ToJsonString(), StringComparison.Ordinal);
        AssertPersistentPutBack(before, await PersistentImageAsync());
        var k = Assert.IsType<PersistentStateReplies.GetResult>(await State.PersistentAsync(new PersistentStateQueries.GetValue(name, "k"), CancellationToken.None));
        Assert.Equal("\"current\"", k.Value.Text);
        Assert.Equal(2, k.Version);
    }

    [Fact]
    public async Task Should_put_everything_back_when_the_restore_is_cancelled_after_a_write_landed()
    {
        // arrange
        fixture.Faults.Disarm();
        var (agents, backupId) = await ArrangeAgentsAndBackUpAsync("cancel");
        var persistentBefore = await PersistentImageAsync();
        var sharedBefore = await SharedImageAsync();
        using var cancel = new CancellationTokenSource();
        var backups = Gw.Services.GetRequiredService<BackupService>();

        // act: the caller gives up just after the write of the second of these agents landed
        fixture.Faults.Arm(2, RestoreFault.Cancel, cancel: cancel, match: m => m is PersistentStateCommands.RestoreState r && agents.Contains(r.Agent));
        var reply = await backups.RestoreAsync(backupId, new BackupRestoreRequest(null), BackupCaller.Operator, cancel.Token);
        fixture.Faults.Disarm();

        // assert
        var refused = Assert.IsType<StateRefused>(reply);
        Assert.Equal("Cancelled", refused.Error.ErrorType);
        Assert.Contains("Nothing was restored", refused.Error.Message, StringComparison.Ordinal);
        AssertPersistentPutBack(persistentBefore, await PersistentImageAsync());
        AssertSharedPutBack(sharedBefore, await SharedImageAsync());
    }

    [Fact]
    public async Task Should_raise_a_critical_alert_and_never_claim_atomicity_when_putting_back_fails()
    {
        // arrange
        fixture.Faults.Disarm();
        var (agents, backupId) = await ArrangeAgentsAndBackUpAsync("pbf");
        var before = await PersistentImageAsync();

        // act: of the writes to the first two agents, the second is refused, and so is every one after it (putting the first back)
        fixture.Faults.Arm(2, RestoreFault.Refuse, failEveryLaterWrite: true,
            match: m => m is PersistentStateCommands.RestoreState r && (r.Agent == agents[0] || r.Agent == agents[1]));
        var restore = await OperatorRestoreAsync(backupId);
        fixture.Faults.Disarm();

        // assert: the error says the restore is incomplete and names the part left behind; a critical alert says the same
        Assert.False(restore.Ok);
        Assert.Equal("RestoreIncomplete", restore.ErrorType);
        Assert.Contains("persistent state of " + agents[0], restore.ErrorMessage, StringComparison.Ordinal);
        Assert.DoesNotContain("persistent state of " + agents[1], restore.ErrorMessage!.Split("failed for:")[1], StringComparison.Ordinal);
        Assert.DoesNotContain("Nothing was restored", restore.ErrorMessage, StringComparison.Ordinal);
        JsonNode? alert = null;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (alert is null && DateTime.UtcNow < deadline)
        {
            var all = (await Gw.ControlAsync(ControlProtocol.Methods.AlertList, new JsonObject { ["status"] = "pending" }))["alerts"]!.AsArray();
            alert = all.FirstOrDefault(a => a!["message"]!.GetValue<string>().Contains(backupId, StringComparison.Ordinal));
            if (alert is null) await Task.Delay(100);
        }
        Assert.NotNull(alert);
        Assert.Equal("critical", alert["severity"]!.GetValue<string>());
        Assert.Equal("system:backup", alert["source"]!.GetValue<string>());
        Assert.Contains("persistent state of " + agents[0], alert["message"]!.GetValue<string>(), StringComparison.Ordinal);
        // The error is true: that part holds the backup's state, every other agent its own.
        var after = await PersistentImageAsync();
        Assert.NotEqual(before[agents[0].Value], after[agents[0].Value]);
        var k = Assert.IsType<PersistentStateReplies.GetResult>(await State.PersistentAsync(new PersistentStateQueries.GetValue(agents[0], "k"), CancellationToken.None));
        Assert.Equal("\"backed-up-2\"", k.Value.Text);
        foreach (var agent in before.Keys.Where(a => a != agents[0].Value)) Assert.Equal(before[agent], after[agent]);
        // The undo log is kept (the next start puts it back), the state health check is critical, and no restore starts.
        var journal = Gw.Services.GetRequiredService<RestoreJournal>();
        Assert.True(journal.Exists);
        Assert.Equal(RestoreRecoveryStatus.Failed, journal.Status);
        var refusedRestore = await OperatorRestoreAsync(backupId);
        Assert.Equal("ServiceUnavailable", refusedRestore.ErrorType);
        // What a start-up does with the kept log (here in the same process): every part goes back and the log is removed.
        var recovered = await Gw.Services.GetRequiredService<BackupService>().RecoverAsync(1, TimeSpan.Zero, CancellationToken.None);
        Assert.True(recovered.Complete, string.Join(", ", recovered.PartsNotPutBack) + recovered.Refused);
        Assert.Equal(backupId, recovered.BackupId);
        Assert.False(journal.Exists);
        Assert.Equal(RestoreRecoveryStatus.Clear, journal.Status);
        AssertPersistentPutBack(before, await PersistentImageAsync());
    }

    [Fact]
    public async Task Should_refuse_a_malformed_undo_log_loudly_keep_it_and_put_nothing_back()
    {
        // arrange: an agent with state, and a whole log naming its pre-image, then the log damaged in several ways
        fixture.Faults.Disarm();
        var name = AgentName.Parse("ulog-" + Id());
        await Gw.CreateAgentAsync(name.Value);
        await SetAsync(name, "k", "\"current\"");
        var before = await PersistentImageAsync();
        var journal = Gw.Services.GetRequiredService<RestoreJournal>();
        var backups = Gw.Services.GetRequiredService<BackupService>();
        var stale = new PersistentStateSnapshot(name, []);
        string[] damaged =
        [
            "truncated", "extra-field", "after-end", "foreign-format", "bad-index", "mode-644", "symlink",
        ];
        foreach (var damage in damaged)
        {
            journal.Write("bkp-20260101T000000", DateTimeOffset.UtcNow, [new ReplaceAgentState(stale, PutBack: true)]);
            Damage(journal.PathName, damage);

            // act
            var outcome = await backups.RecoverAsync(1, TimeSpan.Zero, CancellationToken.None);

            // assert: refused with a reason, nothing put back (the agent keeps its key), the log kept, the health check critical
            Assert.NotNull(outcome.Refused);
            Assert.False(outcome.Complete);
            Assert.True(journal.Exists, damage);
            Assert.Equal(RestoreRecoveryStatus.Failed, journal.Status);
            AssertPersistentPutBack(before, await PersistentImageAsync());
            File.Delete(journal.PathName);
        }
        // a critical alert names the refused log
        var alerts = (await Gw.ControlAsync(ControlProtocol.Methods.AlertList, new JsonObject { ["status"] = "pending" }))["alerts"]!.AsArray();
        Assert.Contains(alerts, a => a!["message"]!.GetValue<string>().Contains("undo log of an interrupted restore", StringComparison.Ordinal)
                                     && a["severity"]!.GetValue<string>() == "critical");
        // with the log gone, the next recovery finds nothing and restores start again
        Assert.True((await backups.RecoverAsync(1, TimeSpan.Zero, CancellationToken.None)).Complete);
        Assert.Equal(RestoreRecoveryStatus.Clear, journal.Status);
    }

    private static void Damage(string path, string how)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("the undo log's modes are POSIX");
        var lines = File.ReadAllLines(path).ToList();
        switch (how)
        {
            case "truncated": lines.RemoveAt(lines.Count - 1); break;
            case "extra-field": lines[1] = lines[1][..^1] + ",\"extra\":1}"; break;
            case "after-end": lines.Add(lines[1]); break;
            case "foreign-format": lines[0] = lines[0].Replace(RestoreUndoLog.Format, "someone.else.v1", StringComparison.Ordinal); break;
            case "bad-index": lines[1] = lines[1].Replace("\"index\":0", "\"index\":1", StringComparison.Ordinal); break;
        }
        if (how is "mode-644")
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            return;
        }
        if (how is "symlink")
        {
            // a link in the log's place, to a whole log the spec wrote in its own temp directory
            var elsewhere = Path.Combine(Directory.CreateTempSubdirectory("kruxos-undo-link-").FullName, "undo.jsonl");
            File.Move(path, elsewhere);
            File.CreateSymbolicLink(path, elsewhere);
            return;
        }
        File.Delete(path);
        File.WriteAllLines(path, lines);
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
