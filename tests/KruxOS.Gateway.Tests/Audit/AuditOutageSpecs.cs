using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Policy;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary>
/// While the audit writer cannot make entries durable — it failed and is restarting, or it halted on a failing
/// disk — no call runs: a sandboxed call (which would leave a marker file), an in-process call and a host CLI's
/// decide-only hook call are each refused before anything happens. The writer comes back by itself, and the
/// refusals are on record.
/// </summary>
public sealed class AuditOutageSpecs
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);

    private const string UserPolicy = """
        rules:
          - capability: process.run
            tier: autonomous
        """;

    private static bool SandboxAvailable => Environment.IsPrivilegedProcess && File.Exists("/usr/bin/bwrap");

    private static string DataDir()
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-audit-outage-").FullName;
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "user.yaml"), UserPolicy);
        return dataDir;
    }

    private static JsonObject Call(string tool, JsonObject arguments) => new() { ["name"] = tool, ["arguments"] = arguments };

    private static string Text(JsonObject response) => response["result"]!["content"]![0]!["text"]!.GetValue<string>();

    private static bool IsError(JsonObject response) => response["result"]!["isError"]?.GetValue<bool>() == true;

    private static JsonObject TouchMarker(string name) =>
        Call("process__run", new JsonObject { ["command"] = "sh", ["args"] = new JsonArray("-c", $"touch /workspace/{name}") });

    private static async Task<string> AuditHealth(TestGateway gateway)
    {
        using var http = new HttpClient();
        // 503 while a check is critical: the body says which
        using var response = await http.GetAsync($"http://127.0.0.1:{gateway.HealthPort}/health", TestContext.Current.CancellationToken);
        var body = await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken);
        return body!["services"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "audit")!["status"]!.GetValue<string>();
    }

    private static async Task WaitForAuditHealth(TestGateway gateway, Func<string, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        var last = "";
        while (clock.Elapsed < Recovery)
        {
            last = await AuditHealth(gateway);
            if (condition(last)) return;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException($"the audit check never became {what}; last: {last}");
    }

    private static async Task<JsonObject> HookDecide(TestGateway gateway, string userToken, string command)
    {
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", userToken);
        using var response = await http.PostAsJsonAsync($"http://127.0.0.1:{gateway.UserApiPort}/api/hook/decide", new JsonObject
        {
            ["client"] = "claude-code",
            ["native_tool"] = "Bash",
            ["capability"] = "process.run",
            ["arguments"] = new JsonObject { ["command"] = command },
        }, TestContext.Current.CancellationToken);
        return (await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken))!;
    }

    private static void AssertRefusedByAudit(JsonObject response, string because)
    {
        Assert.True(IsError(response), Text(response));
        var error = JsonNode.Parse(Text(response))!;
        Assert.Equal("ServiceUnavailable", error["error"]!.GetValue<string>());
        Assert.Contains(because, error["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_every_kind_of_call_before_it_runs_while_the_writer_restarts_after_repeated_failures_and_recover_by_itself()
    {
        Assert.SkipUnless(SandboxAvailable, "the kernel sandbox needs root and bubblewrap");
        // arrange
        await using var gateway = await TestGateway.StartAsync(DataDir());
        var token = await gateway.CreateAgentAsync("outage");
        var userToken = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "laptop" }))["token"]!.GetValue<string>();
        await using var ws = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await ws.InitializeAsync();
        var marker = Path.Combine(gateway.DataDir, "workspace", "outage", "marker-during");

        // act: the writer fails eleven times in a row — more than the ten restarts a minute it was once allowed
        var writer = await gateway.Services.GetRequiredService<ActorRegistry>().GetAsync<AuditWriter>(TestContext.Current.CancellationToken);
        for (var i = 0; i < 11; i++) writer.Tell(Kill.Instance);
        await WaitForAuditHealth(gateway, s => s == "critical", "critical");
        var sandboxed = await ws.RequestAsync(1, "tools/call", TouchMarker("marker-during"));
        var inProcess = await ws.RequestAsync(2, "tools/call", Call("system__time", new JsonObject()));
        var hook = await HookDecide(gateway, userToken, "touch /tmp/anything");

        // assert: each refused before anything ran
        Assert.False(File.Exists(marker), "the sandboxed call ran while the audit writer was down");
        AssertRefusedByAudit(sandboxed, "restarting");
        AssertRefusedByAudit(inProcess, "restarting");
        Assert.Equal("deny", hook["decision"]!.GetValue<string>());
        Assert.Equal("ServiceUnavailable", hook["code"]!.GetValue<string>());

        // the writer comes back by itself; calls run again and every refusal is on record
        await WaitForAuditHealth(gateway, s => s == "healthy", "healthy");
        var after = await ws.RequestAsync(3, "tools/call", TouchMarker("marker-after"));
        Assert.False(IsError(after), Text(after));
        Assert.True(File.Exists(Path.Combine(gateway.DataDir, "workspace", "outage", "marker-after")));
        var reader = new AuditReader(Path.Combine(gateway.DataDir, "audit"));
        var refused = (await reader.QueryAsync(new AuditQuery { Status = AuditStatus.Error, Limit = 100 }, TestContext.Current.CancellationToken)).Entries
            .Select(v => v.Entry).Where(e => e.Metadata.ErrorType == "ServiceUnavailable").ToList();
        Assert.Contains(refused, e => e.Capability == "process.run" && e.Actor.Name == "outage");
        Assert.Contains(refused, e => e.Capability == "system.time");
        Assert.Contains(refused, e => e.Capability == "process.run" && e.Metadata.Details?.TryGetProperty("native_tool", out _) == true);
        Assert.True(AuditVerifier.VerifyDirectory(Path.Combine(gateway.DataDir, "audit")).IsIntact);
    }

    [Fact]
    public async Task Should_refuse_every_kind_of_call_before_it_runs_while_a_halted_writer_cannot_write_its_disk()
    {
        Assert.SkipUnless(SandboxAvailable, "the kernel sandbox needs root and bubblewrap");
        // arrange: fail_mode halt, and a disk whose writes can be made to fail
        var disk = new FailingDisk();
        await using var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton<IAuditFileSystem>(disk), DataDir(),
            "--KruxOS:Audit:FailMode", "Halt", "--KruxOS:Audit:RetryInterval", "00:00:01");
        var token = await gateway.CreateAgentAsync("halted");
        var userToken = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "laptop" }))["token"]!.GetValue<string>();
        await using var ws = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await ws.InitializeAsync();
        var marker = Path.Combine(gateway.DataDir, "workspace", "halted", "marker-during");

        // act: the disk fails; the next entry halts the writer
        disk.Fail = true;
        await ws.RequestAsync(1, "tools/call", Call("system__time", new JsonObject()));
        await WaitForAuditHealth(gateway, s => s == "critical", "critical");
        var sandboxed = await ws.RequestAsync(2, "tools/call", TouchMarker("marker-during"));
        var inProcess = await ws.RequestAsync(3, "tools/call", Call("system__time", new JsonObject()));
        var hook = await HookDecide(gateway, userToken, "touch /tmp/anything");

        // assert
        Assert.False(File.Exists(marker), "the sandboxed call ran while the audit writer was halted");
        AssertRefusedByAudit(sandboxed, "halt");
        AssertRefusedByAudit(inProcess, "halt");
        Assert.Equal("deny", hook["decision"]!.GetValue<string>());
        Assert.Equal("ServiceUnavailable", hook["code"]!.GetValue<string>());

        // the disk is back: the writer recovers and calls run again
        disk.Fail = false;
        await WaitForAuditHealth(gateway, s => s == "healthy", "healthy");
        var after = await ws.RequestAsync(4, "tools/call", TouchMarker("marker-after"));
        Assert.False(IsError(after), Text(after));
        Assert.True(AuditVerifier.VerifyDirectory(Path.Combine(gateway.DataDir, "audit")).IsIntact);
    }

    /// <summary>Real files whose appends fail while <see cref="Fail"/> is set (a full or failing disk).</summary>
    private sealed class FailingDisk : IAuditFileSystem
    {
        private volatile bool _fail;

        public bool Fail { get => _fail; set => _fail = value; }

        public IAuditAppendFile OpenAppend(string path) => new File(this, PhysicalAuditFileSystem.Instance.OpenAppend(path));

        public void SyncDirectory(string directory) => PhysicalAuditFileSystem.Instance.SyncDirectory(directory);

        private sealed class File(FailingDisk disk, IAuditAppendFile inner) : IAuditAppendFile
        {
            public long Length => inner.Length;

            public void Append(ReadOnlySpan<byte> bytes)
            {
                if (disk.Fail) throw new IOException("injected: No space left on device");
                inner.Append(bytes);
            }

            public void Sync() => inner.Sync();

            public void Truncate(long length) => inner.Truncate(length);

            public void Dispose() => inner.Dispose();
        }
    }
}
