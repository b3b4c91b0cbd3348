using System.Net;
using System.Net.Sockets;
using System.Text;
using KruxOS.Core.Agents;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>Each attempt must fail with a structured error and leave the host untouched.</summary>
[Collection(SandboxCollection.Name)]
public sealed class EscapeTests(SandboxFixture f)
{
    private const string A = "escaper";

    [Theory]
    [InlineData("../../../../etc/passwd")]
    [InlineData("/workspace/../etc/shadow")]
    [InlineData("/etc/passwd")]
    [InlineData("/proc/1/environ")]
    [InlineData("sub/../../../root")]
    public async Task Should_refuse_paths_outside_the_workspace(string path)
    {
        var r = await f.Fails(A, "filesystem.read", new { path }, "PathOutOfScope");
        Assert.True(r.PathEscape);
        Assert.Equal("PathOutOfScope", (await f.Call(A, "filesystem.list", new { path })).Error!.ErrorType);
    }

    [Fact]
    public async Task Should_refuse_symlinks_that_lead_outside()
    {
        var ws = f.Workspace(A);
        var other = f.Workspace("victim");
        File.WriteAllText(Path.Combine(other, "secret.txt"), "victim-secret");
        File.CreateSymbolicLink(Path.Combine(ws, "to-etc"), "/etc/passwd");
        File.CreateSymbolicLink(Path.Combine(ws, "to-victim"), Path.Combine(other, "secret.txt"));
        File.CreateSymbolicLink(Path.Combine(ws, "up"), "../../..");
        Directory.CreateDirectory(Path.Combine(ws, "inner"));
        File.WriteAllText(Path.Combine(ws, "inner", "ok.txt"), "fine");
        File.CreateSymbolicLink(Path.Combine(ws, "inside-link"), "inner/ok.txt");
        foreach (var p in new[] { "to-etc", "to-victim", "up/etc/passwd", "up" })
        {
            var r = await f.Call(A, "filesystem.read", new { path = p });
            Assert.False(r.IsSuccess);
            Assert.True(r.Error!.ErrorType is "PathOutOfScope" or "FileNotFound", $"{p}: {r.Error.ErrorType}");
            Assert.DoesNotContain("victim-secret", r.Error.Message);
        }
        Assert.True((await f.Call(A, "filesystem.read", new { path = "to-victim" })).PathEscape);
        // A symlink inside the workspace is fine.
        Assert.Equal("fine", (await f.Ok(A, "filesystem.read", new { path = "inside-link" })).GetProperty("content").GetString());
        // Writing through an escaping link is refused; the target is untouched.
        await f.Fails(A, "filesystem.write", new { path = "to-victim", content = "pwned" }, "PathOutOfScope");
        Assert.Equal("victim-secret", File.ReadAllText(Path.Combine(other, "secret.txt")));
        // From process.run the other workspace does not even exist.
        var cat = await f.Ok(A, "process.run", new { command = "cat", args = new[] { Path.Combine(other, "secret.txt"), "to-victim" } });
        Assert.NotEqual(0, cat.GetProperty("exit_code").GetInt32());
        Assert.DoesNotContain("victim-secret", cat.GetProperty("stdout_summary").GetString());
    }

    [Fact]
    public async Task Should_never_follow_a_symlink_swapped_in_between_check_and_use()
    {
        var ws = f.Workspace(A);
        var race = Path.Combine(ws, "race");
        File.WriteAllText(race, "SAFE");
        var ct = TestContext.Current.CancellationToken;
        using var stop = new CancellationTokenSource();
        // Swap 'race' between a regular file and a symlink to a readable file outside the workspace
        // (visible inside the sandbox too), as fast as the host can.
        var swapper = Task.Run(() =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var tmp = Path.Combine(ws, $".swap{n++ % 2}");
                if (File.Exists(tmp) || new FileInfo(tmp).LinkTarget is not null) File.Delete(tmp);
                if (n % 2 == 0) File.WriteAllText(tmp, "SAFE");
                else File.CreateSymbolicLink(tmp, "/usr/lib/os-release");
                File.Move(tmp, race, overwrite: true);
            }
        }, ct);
        var outcomes = new Dictionary<string, int>();
        try
        {
            for (var i = 0; i < 300; i++)
            {
                var r = await f.Call(A, "filesystem.read", new { path = "race" });
                var key = r.IsSuccess ? "content:" + r.Data!.Value.GetProperty("content").GetString() : r.Error!.ErrorType;
                outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
                Assert.True(key is "content:SAFE" or "PathOutOfScope" or "FileNotFound", $"escaped: {key}");
                var w = await f.Call(A, "filesystem.append", new { path = "race", content = "x" });
                // PermissionDenied: the swapper runs as root, so its files are not the agent's to write.
                Assert.True(w.IsSuccess || w.Error!.ErrorType is "PathOutOfScope" or "FileNotFound" or "PermissionDenied", w.Error?.ErrorType);
            }
        }
        finally
        {
            stop.Cancel();
            await swapper;
        }
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(", ", outcomes.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.DoesNotContain(outcomes.Keys, k => k.Contains("PRETTY_NAME"));
        Assert.DoesNotContain("x", File.ReadAllText("/usr/lib/os-release")[^2..]);
    }

    [Fact]
    public async Task Should_not_write_system_paths()
    {
        await f.Fails(A, "filesystem.write", new { path = "/usr/bin/kruxos-evil", content = "x" }, "PathOutOfScope");
        await f.Fails(A, "filesystem.write", new { path = "/etc/kruxos-evil", content = "x" }, "PathOutOfScope");
        var r = await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", "echo x > /usr/bin/kruxos-evil; echo y > /etc/kruxos-evil; touch /kruxos-evil; mount -t tmpfs none /workspace; echo done" } });
        Assert.Contains("done", r.GetProperty("stdout_summary").GetString());
        Assert.False(File.Exists("/usr/bin/kruxos-evil"));
        Assert.False(File.Exists("/etc/kruxos-evil"));
        Assert.False(File.Exists("/kruxos-evil"));
        // Blocked syscalls: new namespaces and ptrace are refused by seccomp.
        var ns = await f.Ok(A, "process.run", new { command = "unshare", args = new[] { "-U", "-r", "true" } });
        Assert.NotEqual(0, ns.GetProperty("exit_code").GetInt32());
        Assert.Contains("Operation not permitted", ns.GetProperty("stderr_summary").GetString());
    }

    [Fact]
    public async Task Should_have_no_network_access()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var tcp = await f.Ok(A, "process.run", new { command = "bash", args = new[] { "-c", $"echo hi > /dev/tcp/127.0.0.1/{port}" }, timeout = 10 });
        Assert.NotEqual(0, tcp.GetProperty("exit_code").GetInt32());
        var curl = await f.Ok(A, "process.run", new { command = "curl", args = new[] { "-s", "--max-time", "3", $"http://127.0.0.1:{port}/" }, timeout = 10 });
        Assert.NotEqual(0, curl.GetProperty("exit_code").GetInt32());
        var external = await f.Ok(A, "process.run", new { command = "bash", args = new[] { "-c", "echo hi > /dev/tcp/1.1.1.1/53" }, timeout = 10 });
        Assert.NotEqual(0, external.GetProperty("exit_code").GetInt32());
        Assert.False(listener.Pending());
        using var none = new CancellationTokenSource(TimeSpan.FromMilliseconds(300));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await listener.AcceptTcpClientAsync(none.Token));
    }

    [Fact]
    public async Task Should_stop_a_fork_bomb_at_the_pids_limit()
    {
        // The shell stays alive (PID 1 of the sandbox), so the bomb keeps forking until the pids limit stops it.
        var r = await f.Fails("small", "process.run", new { command = "bash", args = new[] { "-c", ":(){ :|:& };:; sleep 10" }, timeout = 5 }, "ResourceExhausted");
        Assert.Equal("pids", r.Error!.ContextString("resource"));
        Assert.Equal("40", r.Error.ContextString("limit"));
        // The agent and the host carry on.
        var after = await f.Ok("small", "process.run", new { command = "echo", args = new[] { "alive" } });
        Assert.Equal("alive", after.GetProperty("stdout_summary").GetString());
    }

    [Fact]
    public async Task Should_report_a_memory_bomb_as_resource_exhausted()
    {
        var r = await f.Fails(A, "process.run", new { command = "tail", args = new[] { "/dev/zero" }, memory_limit = 64L * 1024 * 1024, timeout = 60 }, "ResourceExhausted");
        Assert.Equal("memory", r.Error!.ContextString("resource"));
        Assert.Equal("64 MiB", r.Error.ContextString("limit"));
        Assert.Equal("alive", (await f.Ok(A, "process.run", new { command = "echo", args = new[] { "alive" } })).GetProperty("stdout_summary").GetString());
    }

    [Fact]
    public async Task Should_not_reveal_the_gateways_environment()
    {
        var mine = File.ReadAllText("/proc/self/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Where(kv => kv.IndexOf('=') is > 0 and var i && kv.Length - i > 6 && !kv.StartsWith("PATH=", StringComparison.Ordinal) && !kv.StartsWith("LANG=", StringComparison.Ordinal))
            .ToList();
        Assert.NotEmpty(mine);
        var r = await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", $"cat /proc/*/environ | tr '\\0' '\\n'; ls /proc | grep -c '^[0-9]'; cat /proc/{Environment.ProcessId}/environ" } });
        var output = r.GetProperty("stdout_summary").GetString()!;
        foreach (var kv in mine) Assert.DoesNotContain(kv, output);
        // Only the sandbox's own few processes are visible.
        Assert.True(int.Parse(output.Split('\n').Last(l => l.Length > 0 && l.All(char.IsDigit)), System.Globalization.CultureInfo.InvariantCulture) < 10);
        await f.Fails(A, "filesystem.read", new { path = $"/proc/{Environment.ProcessId}/environ" }, "PathOutOfScope");
    }

    [Fact]
    public async Task Should_not_read_another_agents_workspace()
    {
        await f.Ok("neighbour", "filesystem.write", new { path = "private.txt", content = "neighbour-private" });
        var hostPath = Path.Combine(f.Workspace("neighbour"), "private.txt");
        await f.Fails(A, "filesystem.read", new { path = hostPath }, "PathOutOfScope");
        await f.Fails(A, "filesystem.read", new { path = "../neighbour/private.txt" }, "PathOutOfScope");
        var r = await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", $"cat {hostPath} ../neighbour/private.txt; ls -a /workspace/.." } });
        Assert.DoesNotContain("neighbour-private", r.GetProperty("stdout_summary").GetString());
        // On the host the workspaces belong to different unprivileged uids, mode 0700.
        Assert.NotEqual(f.Host.HostUidFor(AgentName.Parse(A)), f.Host.HostUidFor(AgentName.Parse("neighbour")));
        Assert.Equal(f.Host.HostUidFor(AgentName.Parse("neighbour")), FilesystemTests.OwnerUid(f.Workspace("neighbour")));
        Assert.Equal((UnixFileMode)0x1C0, File.GetUnixFileMode(f.Workspace("neighbour")) & (UnixFileMode)0x1FF);
        Assert.Equal("neighbour-private", Encoding.UTF8.GetString(File.ReadAllBytes(hostPath)));
    }
}

/// <summary>The warm worker's failure modes: crash and memory exhaustion become structured errors and it restarts.</summary>
[Collection(SandboxCollection.Name)]
public sealed class WorkerFailureTests(SandboxFixture f)
{
    [Fact]
    public async Task Should_restart_a_crashed_worker_and_report_structured_errors()
    {
        const string A = "crashy";
        await f.Ok(A, "filesystem.write", new { path = "x.txt", content = "x" });
        var procs = Directory.GetFiles("/sys/fs/cgroup", "cgroup.procs", SearchOption.AllDirectories)
            .FirstOrDefault(p => p.Contains($"/{f.Host.CgroupPathOf(Core.Agents.AgentName.Parse(A))}/worker/", StringComparison.Ordinal));
        Assert.NotNull(procs);
        foreach (var pid in File.ReadAllLines(procs!).Select(int.Parse))
        {
            try { System.Diagnostics.Process.GetProcessById(pid).Kill(); }
            catch (ArgumentException) { } // already gone (bwrap's init dies with the worker)
        }
        var errors = new List<string>();
        SandboxResult r;
        var attempts = 0;
        do
        {
            r = await f.Call(A, "filesystem.read", new { path = "x.txt" });
            if (!r.IsSuccess) errors.Add(r.Error!.ErrorType);
        }
        while (!r.IsSuccess && ++attempts < 3);
        Assert.True(r.IsSuccess, string.Join(",", errors));
        Assert.All(errors, e => Assert.Equal("SandboxCrashed", e));
    }

    [Fact]
    public async Task Should_report_worker_memory_exhaustion_as_resource_exhausted()
    {
        const string A = "tiny"; // 128 MiB (fixture)
        var dir = Path.Combine(f.Workspace(A), "big");
        Directory.CreateDirectory(dir);
        var line = new string('a', 1023) + "\n";
        var content = string.Concat(Enumerable.Repeat(line, 7 * 1024));
        for (var i = 0; i < 12; i++) File.WriteAllText(Path.Combine(dir, $"f{i}.txt"), content);
        var r = await f.Call(A, "filesystem.edit", new { path = "big", include_glob = "*.txt", pattern = "a", replace = "bb", replace_all = true, dry_run = true });
        Assert.False(r.IsSuccess);
        Assert.Equal("ResourceExhausted", r.Error!.ErrorType);
        Assert.Equal("memory", r.Error.ContextString("resource"));
        Assert.Equal("128 MiB", r.Error.ContextString("limit"));
        Directory.Delete(dir, true);
        Assert.True((await f.Call(A, "filesystem.list", new { path = "." })).IsSuccess);
    }
}
