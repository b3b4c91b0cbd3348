using System.Diagnostics;
using KruxOS.Core.Agents;
using KruxOS.Sandbox.Health;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// Issue 14, items 1 and 9: the warm worker is really confined by Landlock, its git processes get less than
/// the worker itself, no process of the agent's uid can reach into it, and what diagnose and health say
/// about Landlock is what is in force.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class WorkerConfinementTests(SandboxFixture f)
{
    [Fact]
    public async Task Should_deny_the_worker_an_access_outside_its_landlock_rules_that_file_permissions_allow()
    {
        const string A = "ll-enforced";
        Assert.True(NativeTest.LandlockAbi() > 0, "this kernel has no Landlock; the spec needs one");
        // /dev/shm in the worker's sandbox is a tmpfs directory owned by the agent's uid: file permissions let the
        // worker create files there, Landlock does not. A .git symlink sends git init there.
        Directory.CreateDirectory(Path.Combine(f.Workspace(A), "shm-repo"));
        File.CreateSymbolicLink(Path.Combine(f.Workspace(A), "shm-repo", ".git"), "/dev/shm");
        var r = await f.Fails(A, "git.init", new { path = "shm-repo" }, "InitFailed");
        Assert.Contains("Permission denied", r.Error!.Message);
        Assert.StartsWith("applied (abi ", f.Host.WorkerLandlock(AgentName.Parse(A)));
    }

    [Fact]
    public async Task Should_keep_git_processes_out_of_the_trash_the_worker_itself_may_write()
    {
        const string A = "ll-git-trash";
        await f.Ok(A, "filesystem.write", new { path = "x.txt", content = "x" });
        await f.Ok(A, "filesystem.delete", new { path = "x.txt" }); // the worker writes its trash
        // git resolves a .git symlink inside the worker's namespace, where /trash is the agent's trash.
        Directory.CreateDirectory(Path.Combine(f.Workspace(A), "trash-repo"));
        File.CreateSymbolicLink(Path.Combine(f.Workspace(A), "trash-repo", ".git"), "/trash");
        var r = await f.Call(A, "git.init", new { path = "trash-repo" });
        var trash = Path.Combine(f.DataDirectory, "trash", A);
        Assert.False(File.Exists(Path.Combine(trash, "HEAD")) || Directory.Exists(Path.Combine(trash, "objects")), "git wrote a repository into the trash");
        Assert.False(r.IsSuccess);
        Assert.Equal("applied", f.Host.WorkerGitLandlock(AgentName.Parse(A)));
    }

    [Fact]
    public async Task Should_not_let_a_process_of_the_agents_uid_into_the_worker_through_proc()
    {
        const string A = "ll-dumpable";
        await f.Ok(A, "filesystem.write", new { path = "x.txt", content = "x" });
        var pid = WorkerPid(A);
        var uid = f.Host.HostUidFor(AgentName.Parse(A));
        // The same uid as the worker (as git, or anything else in its sandbox, runs): its fds, memory and
        // environment must stay closed. /proc/<pid> of a non-dumpable process belongs to root.
        Assert.Equal(0u, NativeTest.OwnerUid($"/proc/{pid}/fd"));
        var (code, output) = RunAs(uid, "sh", "-c", $"ls /proc/{pid}/fd && cat /proc/{pid}/environ | tr '\\0' '\\n'");
        Assert.NotEqual(0, code);
        Assert.DoesNotContain("DOTNET_ROOT", output);
        Assert.Contains("Permission denied", output);
    }

    [Fact]
    public async Task Should_report_landlock_as_not_applied_when_it_is_not_in_force()
    {
        var dir = Path.Combine(f.DataDirectory, "no-landlock");
        Directory.CreateDirectory(dir);
        var options = new SandboxOptions { DataDirectory = dir, CgroupName = f.CgroupName + "-nl", WorkerLandlock = false };
        await using var host = new SandboxHost(options);
        var agent = AgentName.Parse("unlandlocked");
        Assert.True(SandboxFixture.Registry.TryResolve("filesystem.list", out var list));
        Assert.True(Core.Capabilities.ArgumentValidator.TryValidate(list, System.Text.Json.JsonDocument.Parse("""{"path":"."}""").RootElement, out var args, out _));
        Assert.True((await host.ExecuteAsync(new SandboxRequest(agent, Core.Capabilities.CapabilityName.Parse("filesystem.list"), args), TestContext.Current.CancellationToken)).IsSuccess);

        Assert.StartsWith("not applied", host.WorkerLandlock(agent));
        Assert.Contains("landlock: not applied", host.Health.Message);
        var line = SandboxDiagnostics.Run(options).Mechanisms.Single(m => m.Name == "landlock");
        Assert.False(line.Active, line.Detail);
        Assert.StartsWith("not applied", line.Detail);

        // The confined host says so too, from what its running worker measured.
        await f.Ok("ll-health", "filesystem.list", new { path = "." });
        Assert.Matches("landlock: applied in [0-9]+ of [0-9]+ running workers", f.Host.Health.Message);
    }

    private int WorkerPid(string agent)
    {
        var procs = Directory.GetFiles("/sys/fs/cgroup", "cgroup.procs", SearchOption.AllDirectories)
            .First(p => p.Contains($"/{f.Host.CgroupPathOf(AgentName.Parse(agent))}/worker/", StringComparison.Ordinal));
        // The worker itself, not bubblewrap's monitor outside the pid namespace (whose arguments name the worker too).
        return File.ReadAllLines(procs).Select(int.Parse)
            .First(pid => File.ReadAllText($"/proc/{pid}/cmdline").Split('\0') is [var exe, var dll, ..]
                && (exe == "dotnet" || exe.EndsWith("/dotnet", StringComparison.Ordinal)) && dll.EndsWith("KruxOS.SandboxWorker.dll", StringComparison.Ordinal));
    }

    internal static (int Code, string Output) RunAs(uint uid, params string[] command)
    {
        var psi = new ProcessStartInfo("setpriv") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { $"--reuid={uid}", $"--regid={uid}", "--clear-groups", "--" }.Concat(command)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        Assert.True(p.WaitForExit(30_000));
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
