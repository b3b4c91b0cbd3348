using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Sandbox.Health;
using Xunit;

namespace KruxOS.Sandbox.Tests;

[Collection(SandboxCollection.Name)]
public sealed class DiagnosticsTests(SandboxFixture f)
{
    [Fact]
    public void Should_report_every_mechanism_active_on_this_machine()
    {
        var report = SandboxDiagnostics.Run(f.Options);
        TestContext.Current.TestOutputHelper?.WriteLine(report.ToText());
        var names = report.Mechanisms.Select(m => m.Name).ToHashSet();
        foreach (var n in new[] { "bubblewrap", "user_ns", "mount_ns", "pid_ns", "net_ns", "uts_ns", "ipc_ns", "seccomp", "cgroups", "no_network", "non_root" })
            Assert.Contains(n, names);
        Assert.True(report.AllActive, report.ToText());
        Assert.Equal(0, report.ExitCode);
        using var json = JsonDocument.Parse(report.ToJson());
        Assert.True(json.RootElement.GetProperty("all_active").GetBoolean());
        Assert.Contains("seccomp", report.ToText());
    }

    [Fact]
    public void Should_report_missing_and_fail_when_bubblewrap_is_absent()
    {
        var options = new SandboxOptions { DataDirectory = f.DataDirectory, CgroupName = f.CgroupName + "-d", BwrapPath = "/nonexistent/bwrap" };
        var report = SandboxDiagnostics.Run(options);
        Assert.False(report.AllActive);
        Assert.Equal(1, report.ExitCode);
        Assert.False(report.Mechanisms.Single(m => m.Name == "bubblewrap").Active);
        Assert.Contains("MISSING", report.ToText());
    }

    [Fact]
    public void Should_be_healthy_when_set_up()
    {
        Assert.Equal(SandboxHealthStatus.Healthy, f.Host.Health.Status);
        Assert.Equal("sandbox-confinement", SandboxHealth.CheckName);
    }

    [Fact]
    public async Task Should_fail_closed_and_report_critical_when_the_sandbox_cannot_be_set_up()
    {
        var options = new SandboxOptions { DataDirectory = f.DataDirectory, CgroupName = f.CgroupName + "-x", BwrapPath = "/nonexistent/bwrap" };
        await using var host = new SandboxHost(options);
        Assert.Equal(SandboxHealthStatus.Critical, host.Health.Status);
        Assert.False(host.Health.Unconfined);
        var r = await host.ExecuteAsync(new SandboxRequest(Core.Agents.AgentName.Parse("closed"), Core.Capabilities.CapabilityName.Parse("filesystem.list"),
            JsonDocument.Parse("""{"path":"."}""").RootElement), TestContext.Current.CancellationToken);
        Assert.False(r.IsSuccess);
        Assert.Equal("SandboxUnavailable", r.Error!.ErrorType);
    }

    [Fact]
    public async Task Should_report_critical_when_disabled_by_the_development_setting()
    {
        var dir = Path.Combine(f.DataDirectory, "unconfined");
        await using var host = new SandboxHost(new SandboxOptions { DataDirectory = dir, Disabled = true });
        Assert.Equal(SandboxHealthStatus.Critical, host.Health.Status);
        Assert.True(host.Health.Unconfined);
        Assert.Contains("enforcement", SandboxDiagnostics.Run(new SandboxOptions { DataDirectory = dir, Disabled = true, CgroupName = f.CgroupName + "-u" }).ToText());
    }
}

[Collection(SandboxCollection.Name)]
public sealed class LandlockTests(SandboxFixture f)
{
    [Fact]
    public async Task Should_apply_landlock_in_the_worker_where_the_kernel_has_it()
    {
        await f.Ok("landlocked", "filesystem.list", new { path = "." });
        var state = f.Host.WorkerLandlock(Core.Agents.AgentName.Parse("landlocked"));
        var kernelHasIt = NativeTest.LandlockAbi() > 0;
        if (kernelHasIt) Assert.StartsWith("applied (abi ", state);
        else Assert.StartsWith("not applied", state);
    }
}

public sealed class UnconfinedDevelopmentModeTests
{
    [Fact]
    public async Task Should_still_run_capabilities_when_disabled_and_say_so()
    {
        var dir = Path.Combine(Path.GetTempPath(), "kruxos-dev-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            await using var host = new SandboxHost(new SandboxOptions { DataDirectory = dir, Disabled = true });
            Assert.True(host.Health.Unconfined);
            Assert.True(SandboxFixture.Registry.TryResolve("filesystem.write", out var write));
            Assert.True(SandboxFixture.Registry.TryResolve("process.run", out var run));
            var agent = Core.Agents.AgentName.Parse("dev");
            Assert.True(ArgumentValidator.TryValidate(write, JsonDocument.Parse("""{"path":"n.txt","content":"dev"}""").RootElement, out var wArgs, out _));
            Assert.True((await host.ExecuteAsync(new SandboxRequest(agent, write.Name, wArgs), TestContext.Current.CancellationToken)).IsSuccess);
            Assert.True(ArgumentValidator.TryValidate(run, JsonDocument.Parse("""{"command":"cat","args":["n.txt"]}""").RootElement, out var rArgs, out _));
            var r = await host.ExecuteAsync(new SandboxRequest(agent, run.Name, rArgs), TestContext.Current.CancellationToken);
            Assert.Equal("dev", r.Data!.Value.GetProperty("stdout_summary").GetString());
            Assert.Equal("dev", File.ReadAllText(Path.Combine(dir, "workspace", "dev", "n.txt")));
        }
        finally { Directory.Delete(dir, true); }
    }
}
