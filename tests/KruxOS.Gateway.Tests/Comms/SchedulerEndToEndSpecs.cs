using System.Text.Json.Nodes;
using KruxOS.Actors.Scheduling;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Comms;

/// <summary>
/// The scheduler through a real gateway, on a clock the spec moves (<see cref="SchedulerClock"/>): a cron job fires once
/// per due time, also across a restart; a run needing approval is held and runs once approved; a revoked agent's jobs
/// stop; an agent manages only its own jobs. Each run is audited as the agent's call with its trigger and job.
/// </summary>
public sealed class SchedulerEndToEndSpecs
{
    private const string Held = "held-bot";
    private static readonly DateTimeOffset Start = new(2030, 1, 1, 9, 58, 30, TimeSpan.Zero);

    private static async Task<TestGateway> StartAsync(ManualClock clock, string? dataDir = null) =>
        await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(new SchedulerClock(clock)),
            dataDir ?? TestPolicies.DataDirWithAgentPolicy("kruxos-scheduler-", Held),
            "--KruxOS:Scheduler:CheckInterval", "00:00:00.200", "--KruxOS:Scheduler:WakeInterval", "00:00:01");

    private static async Task<List<AuditEntry>> RunsAsync(TestGateway gateway, string agent, string capability)
    {
        var audit = new AuditReader(Path.Combine(gateway.DataDir, "audit"));
        var page = await audit.QueryAsync(new AuditQuery { Agent = agent, Capability = capability }, TestContext.Current.CancellationToken);
        return [.. page.Entries.Select(e => e.Entry).Where(e => e.Metadata.Details is { } d && d.TryGetProperty("trigger", out _))];
    }

    private static string Detail(AuditEntry e, string key) => e.Metadata.Details!.Value.GetProperty(key).GetString()!;

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        while (!await condition() && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(await condition(), what);
    }

    // Long enough for many checks (200 ms) and wakes (1 s) to pass: a job that would fire has fired by then.
    private static Task SettleAsync() => Task.Delay(TimeSpan.FromSeconds(3));

    [Fact]
    public async Task Should_fire_a_cron_job_on_time_exactly_once_per_due_time_also_across_a_restart_and_report_to_the_inbox()
    {
        // arrange
        var clock = new ManualClock(Start);
        var gateway = await StartAsync(clock);
        try
        {
            var token = await gateway.CreateAgentAsync("cron-bot");
            var created = await Rpc.OkAsync(gateway.GatewayPort, token, "scheduler.cron_create",
                new JsonObject { ["capability"] = "system.time", ["inputs"] = new JsonObject { ["timezone"] = "UTC" }, ["schedule"] = "0 10 * * *" });
            var cronId = created["cron_id"]!.GetValue<string>();

            // act / assert: nothing before the due time
            clock.Set(Start.AddSeconds(89)); // 09:59:59
            await SettleAsync();
            Assert.Empty(await RunsAsync(gateway, "cron-bot", "system.time"));

            // act / assert: once at 10:00
            clock.Set(new DateTimeOffset(2030, 1, 1, 10, 0, 1, TimeSpan.Zero));
            var deadline = DateTime.UtcNow + TestTimeouts.Process;
            while ((await RunsAsync(gateway, "cron-bot", "system.time")).Count == 0 && DateTime.UtcNow < deadline) await Task.Delay(100);
            if ((await RunsAsync(gateway, "cron-bot", "system.time")).Count == 0)
            {
                var jobs = await Rpc.InvokeAsync(gateway.GatewayPort, token, "scheduler.cron_list");
                var audit = new AuditReader(Path.Combine(gateway.DataDir, "audit"));
                var all = await audit.QueryAsync(new AuditQuery { Agent = "cron-bot" }, TestContext.Current.CancellationToken);
                Assert.Fail("the job did not fire at its due time: " + jobs.ToJsonString() + " audit: "
                    + string.Join(" | ", all.Entries.Select(e => $"{e.Entry.Capability} {e.Entry.Status} {e.Entry.Metadata.Details}")));
            }
            await SettleAsync();
            var runs = await RunsAsync(gateway, "cron-bot", "system.time");
            var run = Assert.Single(runs);
            Assert.Equal(AuditStatus.Success, run.Status);
            Assert.Equal("schedule", Detail(run, "trigger"));
            Assert.Equal(cronId, Detail(run, "job_id"));
            Assert.Equal($"sch-{cronId}-20300101T100000Z", Detail(run, "idempotency_key"));
            Assert.Equal(KruxOS.Core.Agents.Principal.ForAgent(KruxOS.Core.Agents.AgentName.Parse("cron-bot")), run.Actor);

            // act / assert: a restart at the same time does not fire the due time again
            gateway = await gateway.RestartAsync();
            await SettleAsync();
            Assert.Single(await RunsAsync(gateway, "cron-bot", "system.time"));

            // act / assert: the next day's due time fires once more; the results are in the agent's inbox
            clock.Set(new DateTimeOffset(2030, 1, 2, 10, 0, 30, TimeSpan.Zero));
            await WaitForAsync(async () => (await RunsAsync(gateway, "cron-bot", "system.time")).Count == 2, "the next due time did not fire");
            await SettleAsync();
            Assert.Equal(2, (await RunsAsync(gateway, "cron-bot", "system.time")).Count);
            var inbox = await Rpc.OkAsync(gateway.GatewayPort, token, "comms.receive", new JsonObject { ["limit"] = 10 });
            var results = inbox["messages"]!.AsArray().Where(m => m!["from"]!.GetValue<string>() == SchedulerActor.ResultSender).ToList();
            Assert.Equal(2, results.Count);
            Assert.All(results, m => Assert.Contains("succeeded", m!["message"]!.GetValue<string>(), StringComparison.Ordinal));
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Should_hold_a_scheduled_call_that_needs_approval_and_run_it_once_approved()
    {
        // arrange: the agent's policy holds system.time for approval
        var clock = new ManualClock(Start);
        await using var gateway = await StartAsync(clock);
        var token = await gateway.CreateAgentAsync(Held);
        var delay = await Rpc.OkAsync(gateway.GatewayPort, token, "scheduler.delay",
            new JsonObject { ["capability"] = "system.time", ["delay_seconds"] = 60 });
        var delayId = delay["delay_id"]!.GetValue<string>();

        // act: the delay comes due; the run waits for a human
        clock.Advance(TimeSpan.FromSeconds(61));
        JsonArray pending = [];
        await WaitForAsync(async () =>
        {
            pending = (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList))["approvals"]!.AsArray();
            return pending.Any(a => a!["agent"]?.GetValue<string>() == Held);
        }, "the scheduled call was not held for approval");
        await SettleAsync();
        Assert.DoesNotContain(await RunsAsync(gateway, Held, "system.time"), e => e.Status == AuditStatus.Success);
        var approval = pending.First(a => a!["agent"]?.GetValue<string>() == Held)!;
        await gateway.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = approval["id"]!.GetValue<string>(), ["reason"] = "ok" });

        // assert: it ran once, as the agent, recorded as the delay's run; the delay is gone
        await WaitForAsync(async () => (await RunsAsync(gateway, Held, "system.time")).Any(e => e.Status == AuditStatus.Success), "the approved run did not run");
        var ran = Assert.Single(await RunsAsync(gateway, Held, "system.time"), e => e.Status == AuditStatus.Success);
        Assert.Equal("delay", Detail(ran, "trigger"));
        Assert.Equal(delayId, Detail(ran, "job_id"));
        await WaitForAsync(async () => (await Rpc.OkAsync(gateway.GatewayPort, token, "scheduler.cron_list"))["total"]!.GetValue<int>() == 0,
            "the delay was not removed after it fired");
    }

    [Fact]
    public async Task Should_finish_a_run_that_was_in_flight_across_a_restart_exactly_once_and_report_it()
    {
        // arrange: a delay whose run is held for approval (in flight: fired, no outcome) when the gateway stops
        var clock = new ManualClock(Start);
        var gateway = await StartAsync(clock);
        try
        {
            var token = await gateway.CreateAgentAsync(Held);
            var delayId = (await Rpc.OkAsync(gateway.GatewayPort, token, "scheduler.delay",
                new JsonObject { ["capability"] = "system.time", ["delay_seconds"] = 60 }))["delay_id"]!.GetValue<string>();
            clock.Advance(TimeSpan.FromSeconds(61));
            string? approvalId = null;
            await WaitForAsync(async () =>
            {
                var pending = (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList))["approvals"]!.AsArray();
                approvalId = pending.FirstOrDefault(a => a!["agent"]?.GetValue<string>() == Held)?["id"]?.GetValue<string>();
                return approvalId is not null;
            }, "the scheduled call was not held for approval");

            // act: restart (the run's waiter goes with the process), then the operator accepts
            gateway = await gateway.RestartAsync();
            await SettleAsync();
            await gateway.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = approvalId, ["reason"] = "ok" });

            // assert: the new incarnation took the run up again under its run id: it ran once, on that approval, and its result
            // reached the inbox once (without the re-submission the grant is never used and the delay stays in flight for 25 h)
            var runId = $"sch-{delayId}-";
            await WaitForAsync(async () => (await RunsAsync(gateway, Held, "system.time")).Any(e => e.Status == AuditStatus.Success), "the held run did not run after the restart");
            await SettleAsync();
            var ran = Assert.Single(await RunsAsync(gateway, Held, "system.time"), e => e.Status == AuditStatus.Success);
            Assert.StartsWith(runId, Detail(ran, "idempotency_key"), StringComparison.Ordinal);
            List<string> results = [];
            await WaitForAsync(async () =>
            {
                var inbox = await Rpc.OkAsync(gateway.GatewayPort, token, "comms.receive", new JsonObject { ["limit"] = 10, ["acknowledge"] = false });
                results = [.. inbox["messages"]!.AsArray().Where(m => m!["from"]!.GetValue<string>() == SchedulerActor.ResultSender).Select(m => m!["message"]!.GetValue<string>())];
                return results.Count > 0;
            }, "the run's result did not reach the inbox");
            Assert.Contains("succeeded", Assert.Single(results), StringComparison.Ordinal);
        }
        finally
        {
            await gateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task Should_not_run_a_revoked_agents_jobs()
    {
        // arrange: a job every minute that has fired once
        var clock = new ManualClock(Start);
        await using var gateway = await StartAsync(clock);
        var token = await gateway.CreateAgentAsync("revoked-bot");
        await Rpc.OkAsync(gateway.GatewayPort, token, "scheduler.cron_create",
            new JsonObject { ["capability"] = "system.time", ["schedule"] = "* * * * *" });
        clock.Advance(TimeSpan.FromMinutes(1));
        await WaitForAsync(async () => (await RunsAsync(gateway, "revoked-bot", "system.time")).Count == 1, "the job did not fire");

        // act: revoked, then more due times pass
        await gateway.ControlAsync(ControlProtocol.Methods.AgentRevoke, new JsonObject { ["name"] = "revoked-bot" });
        for (var i = 0; i < 3; i++)
        {
            clock.Advance(TimeSpan.FromMinutes(1));
            await Task.Delay(1000);
        }
        await SettleAsync();

        // assert: nothing more was submitted as the revoked agent (not even a refused attempt)
        Assert.Single(await RunsAsync(gateway, "revoked-bot", "system.time"));
    }

    [Fact]
    public async Task Should_let_an_agent_see_and_delete_only_its_own_jobs_and_refuse_scheduling_the_scheduler()
    {
        // arrange
        var clock = new ManualClock(Start);
        await using var gateway = await StartAsync(clock);
        var owner = await gateway.CreateAgentAsync("owner-bot");
        var other = await gateway.CreateAgentAsync("other-bot");
        var created = await Rpc.OkAsync(gateway.GatewayPort, owner, "scheduler.cron_create",
            new JsonObject { ["capability"] = "system.time", ["schedule"] = "*/5 * * * *" });
        var cronId = created["cron_id"]!.GetValue<string>();

        // act
        var othersList = await Rpc.OkAsync(gateway.GatewayPort, other, "scheduler.cron_list");
        var othersDelete = await Rpc.OkAsync(gateway.GatewayPort, other, "scheduler.cron_delete", new JsonObject { ["cron_id"] = cronId });
        var ownersList = await Rpc.OkAsync(gateway.GatewayPort, owner, "scheduler.cron_list");
        var nested = await Rpc.ErrorAsync(gateway.GatewayPort, owner, "scheduler.cron_create",
            new JsonObject { ["capability"] = "scheduler.cron_create", ["schedule"] = "* * * * *" });
        var badCron = await Rpc.ErrorAsync(gateway.GatewayPort, owner, "scheduler.cron_create",
            new JsonObject { ["capability"] = "system.time", ["schedule"] = "61 * * * *" });
        var unknown = await Rpc.ErrorAsync(gateway.GatewayPort, owner, "scheduler.delay",
            new JsonObject { ["capability"] = "no.such", ["delay_seconds"] = 5 });
        var ownDelete = await Rpc.OkAsync(gateway.GatewayPort, owner, "scheduler.cron_delete", new JsonObject { ["cron_id"] = cronId });

        // assert
        Assert.Equal(0, othersList["total"]!.GetValue<int>());
        Assert.False(othersDelete["deleted"]!.GetValue<bool>());
        Assert.Equal(cronId, Assert.Single(ownersList["jobs"]!.AsArray())!["cron_id"]!.GetValue<string>());
        Assert.Equal("InvalidInput", nested["type"]!.GetValue<string>());
        Assert.Equal("InvalidCronExpression", badCron["type"]!.GetValue<string>());
        Assert.Equal("CapabilityNotFound", unknown["type"]!.GetValue<string>());
        Assert.True(ownDelete["deleted"]!.GetValue<bool>());
    }
}
