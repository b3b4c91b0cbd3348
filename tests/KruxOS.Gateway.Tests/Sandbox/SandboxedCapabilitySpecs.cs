using KruxOS.Testing;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Gateway.Tests.Support;
using Xunit;

namespace KruxOS.Gateway.Tests.Sandbox;

/// <summary>Filesystem and process capabilities through the whole pipeline into the kernel sandbox, over MCP.</summary>
[RequiresSystemPackages("bwrap:bubblewrap", "setpriv:util-linux", Root = true)]
public sealed class SandboxedCapabilitySpecs
{
    [Fact]
    public async Task Should_write_read_and_run_inside_the_agents_sandbox_and_refuse_escapes()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var agent = "sbx-" + Guid.NewGuid().ToString("N")[..8];
        var token = await gateway.CreateAgentAsync(agent);

        // act
        var session = await NodeClients.RunAsync(token, "--transport", "http", "--url", gateway.McpHttp.ToString(), "--list",
            "--call", "filesystem__write", """{"path":"notes/hello.txt","content":"hello from the sandbox\n","create_parents":true}""",
            "--call", "filesystem__read", """{"path":"/workspace/notes/hello.txt"}""",
            "--call", "filesystem__list", """{"path":"notes"}""",
            "--call", "filesystem__read", """{"path":"../../../../etc/shadow"}""",
            "--call", "process__run", """{"command":"sh","args":["-c","id -u; cat /workspace/notes/hello.txt"]}""");

        // assert
        Assert.Null(session["error"]);
        var tools = session["tools"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("filesystem__read", tools);
        Assert.Contains("process__run", tools);
        Assert.Contains("git__commit", tools);
        var r = session["results"]!.AsArray();
        Assert.False(r[0]!["isError"]!.GetValue<bool>(), r[0]!.ToJsonString());
        Assert.Equal("hello from the sandbox\n", r[1]!["body"]!["content"]!.GetValue<string>());
        Assert.Contains("hello.txt", r[2]!.ToJsonString());
        // a lexical escape is stopped by the system protection before the sandbox is even asked
        Assert.Equal("PolicyDenied", r[3]!["body"]!["error"]!.GetValue<string>());
        Assert.Contains("path", r[3]!["body"]!["context"]!["rule"]!.GetValue<string>());
        var run = r[4]!["body"]!;
        Assert.False(r[4]!["isError"]!.GetValue<bool>(), r[4]!.ToJsonString());
        Assert.Contains("hello from the sandbox", run.ToJsonString());
        Assert.DoesNotContain("\"0\\n", run.ToJsonString()); // not root inside the sandbox
        Assert.True(File.Exists(Path.Combine(gateway.DataDir, "workspace", agent, "notes", "hello.txt")));
    }

    [Fact]
    public async Task Should_record_the_cpu_time_and_memory_peak_of_a_sandboxed_process_in_its_audit_entry()
    {
        Assert.SkipUnless(Environment.UserName == "root" && File.Exists("/usr/bin/bwrap"), "the kernel sandbox needs root and bubblewrap");
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var agent = "usage-" + Guid.NewGuid().ToString("N")[..8];
        var token = await gateway.CreateAgentAsync(agent);

        // act: one process.run over MCP (a fresh sandbox with its own cgroup, which measures cpu and memory)
        var session = await NodeClients.RunAsync(token, "--transport", "http", "--url", gateway.McpHttp.ToString(),
            "--call", "process__run", """{"command":"sh","args":["-c","i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; echo counted"]}""");

        // assert: the call's entry carries what the sandbox measured, and GET /api/audit shows it
        Assert.Null(session["error"]);
        var result = session["results"]!.AsArray()[0]!;
        Assert.False(result["isError"]!.GetValue<bool>(), result.ToJsonString());
        var page = await new AuditReader(Path.Combine(gateway.DataDir, "audit")).QueryAsync(
            new AuditQuery { Agent = agent, Capability = "process.run" }, TestContext.Current.CancellationToken);
        var entry = Assert.Single(page.Entries).Entry;
        Assert.NotNull(entry.ResourceUsage);
        Assert.NotNull(entry.ResourceUsage.CpuTimeMs);
        Assert.True(entry.ResourceUsage.MemoryPeakBytes > 0, $"memory peak {entry.ResourceUsage.MemoryPeakBytes}");
        var json = AuditJson.ToJson(page.Entries[0])["result"]!["resource_usage"]!;
        Assert.Equal(entry.ResourceUsage.CpuTimeMs, json["cpu_time_ms"]!.GetValue<long>());
        Assert.Equal(entry.ResourceUsage.MemoryPeakBytes, json["memory_peak_bytes"]!.GetValue<long>());
    }

    [Fact]
    public async Task Should_manage_host_mounts_and_diagnose_the_sandbox_from_the_cli()
    {
        await using var gateway = await TestGateway.StartAsync();
        await gateway.CreateAgentAsync("mounter");
        var source = Directory.CreateTempSubdirectory("kruxos-mount-").FullName;
        try
        {
            var added = await ProcessRunner.Kruxos(gateway, "mount", "add", "mounter", "--source", source, "--target", "/mnt/data", "--label", "data", "--read-only");
            Assert.True(added.ExitCode == 0, added.StdErr);
            Assert.Contains("/mnt/data", added.StdOut);
            var listed = JsonNode.Parse((await ProcessRunner.Kruxos(gateway, "mount", "list", "mounter", "--json")).StdOut)!["mounts"]!.AsArray();
            Assert.True(Assert.Single(listed)!["read_only"]!.GetValue<bool>());
            var wrongTarget = await ProcessRunner.Kruxos(gateway, "mount", "add", "mounter", "--source", source, "--target", "/etc", "--label", "x");
            Assert.Equal(1, wrongTarget.ExitCode);
            var system = await ProcessRunner.Kruxos(gateway, "mount", "add", "mounter", "--source", "/etc", "--label", "etc");
            Assert.Contains("system path", system.StdErr);
            Assert.Equal(0, (await ProcessRunner.Kruxos(gateway, "mount", "remove", "mounter", "data")).ExitCode);
            Assert.Equal(1, (await ProcessRunner.Kruxos(gateway, "mount", "remove", "mounter", "data")).ExitCode);

            var diagnose = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "sandbox", "diagnose", "--json"],
                new Dictionary<string, string> { ["KRUXOS_DATA_DIR"] = gateway.DataDir });
            Assert.True(diagnose.ExitCode == 0, diagnose.StdOut + diagnose.StdErr);
            Assert.Contains("seccomp", diagnose.StdOut);
            Assert.Contains("mode allowlist", diagnose.StdOut);
        }
        finally
        {
            Directory.Delete(source, recursive: true);
        }
    }
}
