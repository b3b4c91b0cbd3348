using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using KruxOS.Actors.Comms;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Scheduling;
using KruxOS.Actors.Tests.Support;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Comms;
using KruxOS.Core.Identity;
using KruxOS.Core.Scheduling;
using KruxOS.Core.State;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static KruxOS.Core.Comms.InboxCommands;
using static KruxOS.Core.Comms.InboxReplies;

namespace KruxOS.Actors.Tests.Cluster;

/// <summary>
/// Comms and the scheduler on two in-process nodes sharing one PostgreSQL journal: a message sent through one node to
/// an agent whose inbox entity lives on the other arrives there and survives that node's stop; a cron job fires exactly
/// once per due time, also after the node that hosted its scheduler entity is stopped (the entity starts on the other
/// node from the journal). The scheduler's clock is the spec's (<see cref="SchedulerClock"/>).
/// </summary>
public sealed class CommsSchedulerClusterSpecs
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Should_deliver_a_message_sent_through_one_node_to_an_inbox_on_the_other_and_keep_it_when_that_node_stops()
    {
        if (Postgres.ServerConnectionString is null) Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server to share between the nodes");
        await using var pg = await Postgres.CreateAsync();
        using var dir = new TempDir();
        await using var nodes = await TwoNodeCluster.StartAsync(dir.Path, PersistenceProvider.PostgreSql, pg.ConnectionString, Fast);
        var (a, b) = (nodes.A, nodes.B);
        var postA = a.Services.GetRequiredService<PostOffice>();
        var postB = b.Services.GetRequiredService<PostOffice>();

        // arrange: an agent whose inbox entity node B hosts (each candidate's entity is started through node A). Shards are
        // placed on the regions registered with the coordinator when first used: until B's region has registered (it may
        // trail B's membership), every new shard goes to A and stays there, so fresh candidates are tried until one lands on B.
        AgentName? recipient = null;
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        for (var i = 0; recipient is null && DateTime.UtcNow < deadline; i++)
        {
            var candidate = AgentName.Parse($"mailbox-{i}");
            await UntilAnswered(() => postA.InboxAsync(new GetInboxStatus(candidate), Ct));
            if (await HostsAsync<InboxRegion>(b, candidate.Value)) recipient = candidate;
        }
        Assert.NotNull(recipient);
        var to = recipient.Value;

        // act: sent through node A
        var message = new CommsMessage(CommsIds.NewMessageId(), "sender-on-a", to, null, MessagePriority.High, "across the cluster", DateTimeOffset.UtcNow, []);
        var delivery = await postA.DeliverAsync(to, message, Ct);

        // assert: queued, and the entity on node B has it (read without acknowledging)
        Assert.True(delivery.Queued, delivery.Error?.Message);
        var onB = Assert.IsType<ReceiveResult>(await postB.InboxAsync(new InboxCommands.Receive(to, Acknowledge: false), Ct));
        Assert.Equal(message.MessageId, Assert.Single(onB.Messages).MessageId);

        // act: node B stops; the inbox entity starts on node A from the journal
        await nodes.StopAsync(b);
        var onA = Assert.IsType<ReceiveResult>(await UntilAnswered(() => postA.InboxAsync(new InboxCommands.Receive(to), Ct)));

        // assert: the message survived, whole
        var kept = Assert.Single(onA.Messages);
        Assert.Equal((message.MessageId, "sender-on-a", "across the cluster", MessagePriority.High), (kept.MessageId, kept.From, kept.Message, kept.Priority));
    }

    [Fact]
    public async Task Should_fire_a_cron_job_exactly_once_per_due_time_when_the_node_that_ran_it_stops()
    {
        if (Postgres.ServerConnectionString is null) Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server to share between the nodes");
        await using var pg = await Postgres.CreateAsync();
        using var dir = new TempDir();
        var clock = new SettableClock(new DateTimeOffset(2030, 1, 1, 9, 58, 30, TimeSpan.Zero));
        await using var nodes = await TwoNodeCluster.StartAsync(dir.Path, PersistenceProvider.PostgreSql, pg.ConnectionString, Fast,
            (_, services) => services.AddSingleton(new SchedulerClock(clock)));
        var agent = AgentName.Parse("cron-bot");

        // arrange: the agent, known to both nodes, and a job every minute created through node A
        var registry = await nodes.B.Registry.GetAsync<IdentityRegistry>(Ct);
        var created = await registry.Ask<IdentityResult>(new IdentityCommands.CreateAgent(agent.Value, "cluster spec", TokenHashing.Hash(TokenHashing.NewAgentToken()),
            DateTimeOffset.UtcNow), TestTimeouts.Cluster, Ct);
        Assert.True(created.IsOk, created.Message);
        foreach (var node in new[] { nodes.A, nodes.B })
        {
            var directory = node.Services.GetRequiredService<IdentityDirectory>();
            await Eventually(() => directory.Current.Agents.ContainsKey(agent.Value), "the agent did not reach both nodes");
        }
        var jobId = JobIds.New(JobKind.Cron);
        var schedulersA = await nodes.A.Registry.GetAsync<SchedulerRegion>(Ct);
        var reply = await schedulersA.Ask<ISchedulerReply>(new SchedulerCommands.CreateCron(agent, jobId, CapabilityName.Parse("system.time"),
            StoredJson.Parse("{}"), "* * * * *", "cluster spec"), TestTimeouts.Cluster, Ct);
        Assert.IsType<SchedulerReplies.CronCreated>(reply);
        // The entity may have been woken (and suspended its jobs) before its node knew the agent; it resumes at its next
        // check. A cron job resumes at its next due time after the moment it resumes (nothing missed while suspended runs),
        // so the clock moves only once the entity has resumed.
        await EventuallyAsync(async () => await schedulersA.Ask<ISchedulerReply>(new SchedulerCommands.ListJobs(agent), TestTimeouts.Cluster, Ct)
            is SchedulerReplies.JobList { Jobs: [{ Enabled: true }] }, "the agent's jobs were not enabled", () => StateOfAsync(nodes, agent));

        // act: 09:59 comes due
        clock.Set(new DateTimeOffset(2030, 1, 1, 9, 59, 1, TimeSpan.Zero));
        await EventuallyAsync(async () => (await RunsAsync(nodes, agent)).Count >= 1, "the 09:59 run did not fire", () => StateOfAsync(nodes, agent));
        // its outcome reached the inbox, so the entity has recorded the run as finished: asked next, it answers only once
        // that is durable (a persistent actor stashes commands while it persists)
        await EventuallyAsync(async () => (await ResultsAsync(nodes.A, agent)).Count >= 1, "the 09:59 run's outcome did not reach the inbox");
        Assert.IsType<SchedulerReplies.JobList>(await schedulersA.Ask<ISchedulerReply>(new SchedulerCommands.ListJobs(agent), TestTimeouts.Cluster, Ct));

        // act: the node hosting the agent's scheduler entity stops; 10:00 comes due
        var host = await HostsAsync<SchedulerRegion>(nodes.A, agent.Value) ? nodes.A : nodes.B;
        Assert.True(await HostsAsync<SchedulerRegion>(host, agent.Value), "neither node reports the scheduler entity");
        var survivor = host == nodes.A ? nodes.B : nodes.A;
        await nodes.StopAsync(host);
        clock.Set(new DateTimeOffset(2030, 1, 1, 10, 0, 1, TimeSpan.Zero));
        await EventuallyAsync(async () => (await RunsAsync(nodes, agent)).Count >= 2, "the 10:00 run did not fire on the remaining node");
        // A job whose run is still in flight skips its next due time (runs never overlap), and a run is in flight until its
        // outcome reached the inbox: as for 09:59, the clock moves once the outcome is there and the entity has recorded it.
        await EventuallyAsync(async () => (await ResultsAsync(survivor, agent)).Count >= 2, "the 10:00 run's outcome did not reach the inbox",
            () => StateOfAsync(nodes, agent));
        var survivorSchedulers = await survivor.Registry.GetAsync<SchedulerRegion>(Ct);
        Assert.IsType<SchedulerReplies.JobList>(await survivorSchedulers.Ask<ISchedulerReply>(new SchedulerCommands.ListJobs(agent), TestTimeouts.Cluster, Ct));
        clock.Set(new DateTimeOffset(2030, 1, 1, 10, 1, 1, TimeSpan.Zero));
        await EventuallyAsync(async () => (await RunsAsync(nodes, agent)).Count >= 3, "the 10:01 run did not fire on the remaining node", () => StateOfAsync(nodes, agent));
        // long enough for many checks (200 ms) and wakes (1 s): a due time that would fire again has done so by now
        await Task.Delay(TimeSpan.FromSeconds(4), Ct);

        // assert: one run per due time, none repeated by the node that took over, each audited as the agent's own call
        var runs = await RunsAsync(nodes, agent);
        Assert.Equal(
            new[] { $"sch-{jobId}-20300101T095900Z", $"sch-{jobId}-20300101T100000Z", $"sch-{jobId}-20300101T100100Z" },
            runs.Select(r => Detail(r, "idempotency_key")).Order(StringComparer.Ordinal));
        Assert.All(runs, r => Assert.Equal((AuditStatus.Success, Principal.ForAgent(agent), jobId), (r.Status, r.Actor, Detail(r, "job_id"))));
        // and each outcome is in the agent's inbox once (no skipped or missed notice either)
        var results = await ResultsAsync(survivor, agent);
        Assert.Equal(3, results.Count);
        Assert.All(results, m => Assert.Contains("succeeded", m.Message, StringComparison.Ordinal));
    }

    // Short scheduler intervals, so due times are noticed within a second.
    private static void Fast(string node, KruxOsSettings settings) =>
        settings.Scheduler = new SchedulerSettings { CheckInterval = TimeSpan.FromMilliseconds(200), WakeInterval = TimeSpan.FromSeconds(1) };

    // The scheduler's messages in the agent's inbox, read without acknowledging them.
    private static async Task<List<ReceivedMessage>> ResultsAsync(NodeHost node, AgentName agent)
    {
        var reply = await UntilAnswered(() => node.Services.GetRequiredService<PostOffice>().InboxAsync(new InboxCommands.Receive(agent, Limit: 50, Acknowledge: false), Ct));
        return [.. Assert.IsType<ReceiveResult>(reply).Messages.Where(m => m.From == SchedulerActor.ResultSender)];
    }

    // What the nodes know of the agent's jobs and calls, for a failure's message: its jobs, every audit entry of the agent
    // on either node, and the scheduler's messages in its inbox.
    private static async Task<string> StateOfAsync(TwoNodeCluster nodes, AgentName agent)
    {
        var text = new System.Text.StringBuilder();
        try
        {
            var schedulers = await nodes.Running.Registry.GetAsync<SchedulerRegion>(Ct);
            var jobs = await schedulers.Ask<ISchedulerReply>(new SchedulerCommands.ListJobs(agent), TestTimeouts.Cluster, Ct);
            text.Append("jobs: ").Append(jobs is SchedulerReplies.JobList l ? string.Join(", ", l.Jobs.Select(j => $"{j.CronId} next {j.NextRun:O} enabled {j.Enabled}")) : jobs.ToString());
            foreach (var auditDir in nodes.AuditDirectories.Where(Directory.Exists))
            {
                var page = await new AuditReader(auditDir).QueryAsync(new AuditQuery { Agent = agent.Value, Limit = 50 }, Ct);
                text.Append($"; audit {auditDir}: ").Append(string.Join(", ", page.Entries.Select(e => $"{e.Entry.Capability} {e.Entry.Status} {e.Entry.OutputSummary}")));
            }
            text.Append("; inbox: ").Append(string.Join(" | ", (await ResultsAsync(nodes.Running, agent)).Select(m => m.Message)));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            text.Append("; (could not read the rest: ").Append(e.Message).Append(')');
        }
        return text.ToString();
    }

    // Every scheduled run of the agent's system.time calls, in the audit logs of both nodes (a stopped node's stay on disk).
    private static async Task<List<AuditEntry>> RunsAsync(TwoNodeCluster nodes, AgentName agent)
    {
        var runs = new List<AuditEntry>();
        foreach (var auditDir in nodes.AuditDirectories)
        {
            if (!Directory.Exists(auditDir)) continue;
            var page = await new AuditReader(auditDir).QueryAsync(new AuditQuery { Agent = agent.Value, Capability = "system.time", Limit = AuditQuery.MaxLimit }, Ct);
            runs.AddRange(page.Entries.Select(e => e.Entry).Where(e => e.Metadata.Details is { } d && d.TryGetProperty("trigger", out _)));
        }
        return runs;
    }

    private static string Detail(AuditEntry e, string key) => e.Metadata.Details!.Value.GetProperty(key).GetString()!;

    // Whether this node's region of TKey hosts the entity right now.
    private static async Task<bool> HostsAsync<TKey>(NodeHost node, string entityId)
    {
        var region = await node.Registry.GetAsync<TKey>(Ct);
        var state = await region.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, TestTimeouts.Cluster, Ct);
        return state.Shards.Any(s => s.EntityIds.Contains(entityId));
    }

    // Asked again while shard allocation (or a hand-over after a node stopped) is still in progress: a retryable refusal.
    private static async Task<ICommsReply> UntilAnswered(Func<Task<ICommsReply>> ask)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster * 2;
        while (true)
        {
            var reply = await ask();
            if (reply is not CommsRefused { Error: var e } || !(e.Retryable || e.ContextString("reason")?.Contains("did not answer", StringComparison.Ordinal) == true)
                || DateTime.UtcNow > deadline) return reply;
            await Task.Delay(200, Ct);
        }
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(100, Ct);
        }
    }

    private static async Task EventuallyAsync(Func<Task<bool>> condition, string what, Func<Task<string>>? state = null)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster * 2;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(state is null ? what : $"{what}; {await state()}");
            await Task.Delay(200, Ct);
        }
    }

    /// <summary>A clock the spec sets; read from actor threads.</summary>
    private sealed class SettableClock(DateTimeOffset start) : TimeProvider
    {
        private long _ticks = start.UtcTicks;

        public void Set(DateTimeOffset now) => Interlocked.Exchange(ref _ticks, now.UtcTicks);

        public override DateTimeOffset GetUtcNow() => new(Interlocked.Read(ref _ticks), TimeSpan.Zero);
    }
}
