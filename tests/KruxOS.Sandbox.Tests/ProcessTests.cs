using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Sandbox.Tests;

[Collection(SandboxCollection.Name)]
public sealed class ProcessTests(SandboxFixture f)
{
    private const string A = "proc-agent";

    [Fact]
    public async Task Should_run_in_the_foreground_with_stdin_env_and_summaries()
    {
        var r = await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", "echo $FOO $HOME $(id -u) $(hostname 2>/dev/null || cat /proc/sys/kernel/hostname); cat; echo err >&2; exit 3" },
            stdin = "from-stdin", environment = new Dictionary<string, string> { ["FOO"] = "bar" } });
        Assert.Equal("completed", r.GetProperty("state").GetString());
        Assert.Equal(3, r.GetProperty("exit_code").GetInt32());
        Assert.Equal("bar /workspace 1000 agent-proc-agent\nfrom-stdin", r.GetProperty("stdout_summary").GetString());
        Assert.Equal("err", r.GetProperty("stderr_summary").GetString());
        Assert.StartsWith("p-", r.GetProperty("process_id").GetString());
        Assert.True(r.GetProperty("resource_usage").TryGetProperty("cpu_ms", out _));
        var seq = await f.Ok(A, "process.run", new { command = "seq", args = new[] { "1", "500" }, stdout_lines = 3 });
        Assert.Equal("498\n499\n500", seq.GetProperty("stdout_summary").GetString());
        Assert.Equal(1892, seq.GetProperty("stdout_size").GetInt64());
        var mem = seq.GetProperty("resource_usage").GetProperty("memory_peak_bytes");
        Assert.True(mem.ValueKind == JsonValueKind.Number && mem.GetInt64() > 0);
    }

    [Fact]
    public async Task Should_report_a_timeout_as_a_state_not_an_error()
    {
        var r = await f.Ok(A, "process.run", new { command = "sleep", args = new[] { "30" }, timeout = 1 });
        Assert.Equal("timed_out", r.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("exit_code").ValueKind);
        Assert.InRange(r.GetProperty("duration_ms").GetInt64(), 900, 15_000);
    }

    [Fact]
    public async Task Should_refuse_protected_environment_and_bad_inputs()
    {
        await f.Fails(A, "process.run", new { command = "true", environment = new Dictionary<string, string> { ["PATH"] = "/tmp" } }, "InvalidInput");
        await f.Fails(A, "process.run", new { command = "true", environment = new Dictionary<string, string> { ["LD_PRELOAD"] = "/tmp/x.so" } }, "InvalidInput");
        await f.Fails(A, "process.run", new { command = "no-such-program-xyz" }, "CommandNotFound");
        await f.Fails(A, "process.run", new { command = "/etc/passwd" }, "CommandNotFound");
        await f.Fails(A, "process.run", new { command = "true", cpu_limit = 4.0 }, "ResourceLimitExceeded");
        await f.Fails(A, "process.run", new { command = "true", memory_limit = 8L * 1024 * 1024 * 1024 }, "ResourceLimitExceeded");
        var escape = await f.Fails(A, "process.run", new { command = "true", working_directory = "/etc" }, "PathOutOfScope");
        Assert.True(escape.PathEscape);
        await f.Fails(A, "process.run", new { command = "true", working_directory = "../.." }, "PathOutOfScope");
        await f.Fails(A, "process.monitor", new { process_id = "p-nothere" }, "ProcessNotFound");
        await f.Fails(A, "process.kill", new { process_id = "p-nothere" }, "ProcessNotFound");
        await f.Fails(A, "process.logs", new { process_id = "p-nothere" }, "ProcessNotFound");
        // Values the validator would refuse still fail cleanly when sent directly.
        Assert.True(SandboxFixture.Registry.TryResolve("process.list", out var list));
        var bad = await f.Host.ExecuteAsync(new SandboxRequest(AgentName.Parse(A), list.Name, JsonDocument.Parse("""{"state_filter":"zombie"}""").RootElement), TestContext.Current.CancellationToken);
        Assert.Equal("InvalidFilter", bad.Error!.ErrorType);
        Assert.True(SandboxFixture.Registry.TryResolve("process.logs", out var logs));
        var bad2 = await f.Host.ExecuteAsync(new SandboxRequest(AgentName.Parse(A), logs.Name, JsonDocument.Parse("""{"process_id":"p-x","stream":"stdin"}""").RootElement), TestContext.Current.CancellationToken);
        Assert.Equal("InvalidStream", bad2.Error!.ErrorType);
    }

    [Fact]
    public async Task Should_run_in_the_background_then_monitor_log_list_and_kill()
    {
        var start = await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", "echo started; sleep 60" }, background = true });
        Assert.Equal("running", start.GetProperty("state").GetString());
        var id = start.GetProperty("process_id").GetString()!;
        Assert.Equal("running", (await f.Ok(A, "process.monitor", new { process_id = id })).GetProperty("state").GetString());
        string stdout = string.Empty;
        for (var i = 0; i < 100 && !stdout.Contains("started"); i++)
        {
            stdout = (await f.Ok(A, "process.logs", new { process_id = id, stream = "stdout" })).GetProperty("stdout").GetString()!;
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
        Assert.Equal("started\n", stdout);
        var running = await f.Ok(A, "process.list", new { state_filter = "running" });
        Assert.Contains(running.GetProperty("processes").EnumerateArray(), p => p.GetProperty("process_id").GetString() == id);
        var kill = await f.Ok(A, "process.kill", new { process_id = id });
        Assert.True(kill.GetProperty("killed").GetBoolean());
        Assert.Equal("killed", kill.GetProperty("state").GetString());
        Assert.False(kill.GetProperty("escalated").GetBoolean());
        Assert.Equal("killed", (await f.Ok(A, "process.monitor", new { process_id = id })).GetProperty("state").GetString());
        await f.Fails(A, "process.kill", new { process_id = id }, "ProcessAlreadyExited");
        var killed = await f.Ok(A, "process.list", new { state_filter = "killed" });
        Assert.Contains(killed.GetProperty("processes").EnumerateArray(), p => p.GetProperty("process_id").GetString() == id);
    }

    [Fact]
    public async Task Should_escalate_to_sigkill_when_sigterm_is_ignored()
    {
        var start = await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", "trap '' TERM; echo ready; while :; do sleep 0.2; done" }, background = true });
        var id = start.GetProperty("process_id").GetString()!;
        for (var i = 0; i < 100 && !(await f.Ok(A, "process.logs", new { process_id = id })).GetProperty("stdout").GetString()!.Contains("ready"); i++)
            await Task.Delay(50, TestContext.Current.CancellationToken);
        var kill = await f.Ok(A, "process.kill", new { process_id = id, signal = "SIGTERM", force_after = 1 });
        Assert.True(kill.GetProperty("escalated").GetBoolean());
        Assert.Equal("SIGKILL", kill.GetProperty("signal_sent").GetString());
        Assert.True(kill.GetProperty("killed").GetBoolean());
        Assert.Equal("killed", kill.GetProperty("state").GetString());
    }

    [Fact]
    public async Task Should_not_exhaust_the_pids_limit_with_quick_successive_runs()
    {
        // "small" has a 40-pid limit; each finished sandbox must give its pids back at once.
        for (var i = 0; i < 60; i++)
            Assert.Equal("completed", (await f.Ok("small", "process.run", new { command = "true" })).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Should_kill_background_processes_when_the_agent_stops()
    {
        var start = await f.Ok("stopper", "process.run", new { command = "sleep", args = new[] { "60" }, background = true });
        Assert.Equal("running", start.GetProperty("state").GetString());
        await f.Host.StopAgentAsync(AgentName.Parse("stopper"), TestContext.Current.CancellationToken);
        // A fresh sandbox for the agent knows nothing of the old process, and the group is gone.
        await f.Fails("stopper", "process.monitor", new { process_id = start.GetProperty("process_id").GetString() }, "ProcessNotFound");
        Assert.False(Directory.Exists($"/sys/fs/cgroup/pids/{f.Host.CgroupPathOf(AgentName.Parse("stopper"))}/{start.GetProperty("process_id").GetString()}"));
    }
}
