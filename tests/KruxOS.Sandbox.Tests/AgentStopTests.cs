using KruxOS.Testing;
using KruxOS.Core.Agents;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// Stopping an agent (revoke, kill, pause) ends everything it runs on the host: background processes, what they
/// detached, the worker; with a hold, nothing new starts until it is released.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class AgentStopTests(SandboxFixture f)
{
    [Fact]
    public async Task A_held_stop_ends_a_detached_writer_loop_and_refuses_further_calls_until_released()
    {
        // arrange: the agent starts a background loop that also double-forks a detached writer (setsid), both appending to files
        const string A = "stop-held";
        var agent = AgentName.Parse(A);
        var loop = "while :; do echo x >> loop.log; sleep 0.1; done";
        await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", $"setsid sh -c '{loop.Replace("loop.log", "detached.log", StringComparison.Ordinal)}' >/dev/null 2>&1 & {loop}" }, background = true, timeout = 3600 });
        await f.Ok(A, "filesystem.write", new { path = "keep.txt", content = "k" }); // the worker runs too
        var workspace = f.Workspace(A);
        Assert.True(await HostHelpers.Eventually(() => File.Exists(Path.Combine(workspace, "loop.log")) && File.Exists(Path.Combine(workspace, "detached.log"))));
        var uid = f.Host.HostUidFor(agent);
        Assert.NotEmpty(SandboxLeftovers.ProcessesOf(uid));

        // act
        var report = await f.Host.StopAgentAsync(agent, hold: true, TestContext.Current.CancellationToken);

        // assert: nothing of the agent's uid is left, its cgroup subtree is gone, and the files stop growing
        Assert.True(report.ProcessesKilled >= 2, $"{report.ProcessesKilled} killed");
        Assert.True(await HostHelpers.Eventually(() => SandboxLeftovers.ProcessesOf(uid).Count == 0, TimeSpan.FromSeconds(10)), string.Join(",", SandboxLeftovers.ProcessesOf(uid)));
        Assert.False(SandboxLeftovers.CgroupExists(f.Host.CgroupPathOf(agent)));
        var sizes = (new FileInfo(Path.Combine(workspace, "loop.log")).Length, new FileInfo(Path.Combine(workspace, "detached.log")).Length);
        await Task.Delay(1500, TestContext.Current.CancellationToken);
        Assert.Equal(sizes, (new FileInfo(Path.Combine(workspace, "loop.log")).Length, new FileInfo(Path.Combine(workspace, "detached.log")).Length));

        // assert: held — nothing new runs for it, through the worker or a process
        var refusedRun = await f.Call(A, "process.run", new { command = "true" });
        var refusedRead = await f.Call(A, "filesystem.read", new { path = "keep.txt" });
        Assert.Equal("SandboxUnavailable", refusedRun.Error?.ErrorType);
        Assert.Equal("SandboxUnavailable", refusedRead.Error?.ErrorType);
        Assert.Empty(SandboxLeftovers.ProcessesOf(uid));

        // act + assert: released (restore, resume), it works again with a fresh sandbox
        f.Host.ReleaseAgent(agent);
        Assert.Equal("k", (await f.Ok(A, "filesystem.read", new { path = "keep.txt" })).GetProperty("content").GetString());
    }

    [Fact]
    public async Task A_call_racing_the_stop_never_leaves_a_process_behind()
    {
        // arrange: many background starts in flight while the agent is stopped and held
        const string A = "stop-race";
        var agent = AgentName.Parse(A);
        await f.Ok(A, "filesystem.list", new { path = "." });
        var uid = f.Host.HostUidFor(agent);
        var starts = Enumerable.Range(0, 8).Select(_ => f.Call(A, "process.run", new { command = "sleep", args = new[] { "300" }, background = true })).ToList();

        // act
        await Task.Delay(50, TestContext.Current.CancellationToken);
        await f.Host.StopAgentAsync(agent, hold: true, TestContext.Current.CancellationToken);
        await Task.WhenAll(starts);

        // assert: whatever each start answered, no process of the agent survives
        Assert.True(await HostHelpers.Eventually(() => SandboxLeftovers.ProcessesOf(uid).Count == 0, TimeSpan.FromSeconds(15)), string.Join(",", SandboxLeftovers.ProcessesOf(uid)));
        f.Host.ReleaseAgent(agent);
    }
}
