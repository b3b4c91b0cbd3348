using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Cli;
using KruxOS.Core.Audit;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary>
/// Arguments an agent chooses to make the audit log fail: a value larger than a record may be, a key as large,
/// a number outside the float64 range, and a burst of such calls next to another agent's ordinary ones. Each call
/// is answered and recorded, the chain verifies with <c>kruxos audit verify</c>, and nobody else's entries are lost.
/// </summary>
public sealed class AuditHostileInputSpecs
{
    private const int TwoMiB = 2 * 1024 * 1024;

    private static bool SandboxAvailable => Environment.IsPrivilegedProcess && File.Exists("/usr/bin/bwrap");

    private static string AuditDir(TestGateway gateway) => Path.Combine(gateway.DataDir, "audit");

    private static async Task<List<AuditEntry>> EntriesOf(TestGateway gateway, string agent) =>
        [.. (await new AuditReader(AuditDir(gateway)).QueryAsync(new AuditQuery { Agent = agent, Ascending = true, Limit = 1000 },
            TestContext.Current.CancellationToken)).Entries.Select(v => v.Entry)];

    private static string Sha256Hex(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    // A text of exactly `bytes` ASCII bytes whose start is recognisable.
    private static string BigText(int bytes, string start) => start + new string('a', bytes - start.Length);

    private static JsonObject Call(string tool, JsonObject arguments) => new() { ["name"] = tool, ["arguments"] = arguments };

    private static string Text(JsonObject response) => response["result"]!["content"]![0]!["text"]!.GetValue<string>();

    private static bool IsError(JsonObject response) => response["result"]!["isError"]?.GetValue<bool>() == true;

    // `kruxos audit verify --dir …`, the command an operator runs (in-process, as the CLI specs run it)
    private static async Task AssertVerifiedWithTheCli(TestGateway gateway)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(["audit", "verify", "--dir", AuditDir(gateway)], stdout, stderr, CancellationToken.None);
        Assert.True(code == 0, $"kruxos audit verify exited {code}: {stdout}{stderr}");
        Assert.Contains("verified", stdout.ToString(), StringComparison.Ordinal);
    }

    // The one elision the entry lists for `path`, checked against what was sent.
    private static void AssertElided(AuditEntry entry, string path, string original)
    {
        var listed = entry.Metadata.Details!.Value.GetProperty("elided").EnumerateArray()
            .Single(e => e.GetProperty("path").GetString() == path);
        Assert.Equal("text", listed.GetProperty("reason").GetString());
        Assert.Equal(Encoding.UTF8.GetByteCount(original), listed.GetProperty("bytes").GetInt64());
        Assert.Equal(Sha256Hex(original), listed.GetProperty("sha256").GetString());
    }

    [Fact]
    public async Task Should_audit_a_call_with_a_2_MiB_argument_and_one_with_a_1_MiB_output_and_keep_the_chain_verifiable()
    {
        Assert.SkipUnless(SandboxAvailable, "the kernel sandbox needs root and bubblewrap");
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("big-writer");
        await using var ws = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await ws.InitializeAsync();
        var content = BigText(TwoMiB, "start-of-the-file ");

        // act: a 2 MiB argument (sandboxed write), then a 1 MiB output (the largest read there is)
        var write = await ws.RequestAsync(1, "tools/call", Call("filesystem__write", new JsonObject { ["path"] = "big.txt", ["content"] = content }));
        var read = await ws.RequestAsync(2, "tools/call", Call("filesystem__read", new JsonObject { ["path"] = "big.txt", ["limit"] = 1048576 }));

        // assert: both calls ran and were answered
        Assert.False(IsError(write), Text(write));
        Assert.Equal(TwoMiB, new FileInfo(Path.Combine(gateway.DataDir, "workspace", "big-writer", "big.txt")).Length);
        Assert.False(IsError(read), Text(read)[..Math.Min(500, Text(read).Length)]);
        Assert.Equal(1048576, JsonNode.Parse(Text(read))!["content"]!.GetValue<string>().Length);

        // both are on record: the argument by its size and hash (and its first bytes), the output by its size
        var entries = await EntriesOf(gateway, "big-writer");
        var written = Assert.Single(entries, e => e.Capability == "filesystem.write");
        Assert.Equal(AuditStatus.Success, written.Status);
        var recorded = written.Inputs.GetProperty("content").GetString()!;
        Assert.StartsWith("start-of-the-file ", recorded, StringComparison.Ordinal);
        Assert.Contains($"{TwoMiB} bytes, sha256:{Sha256Hex(content)}", recorded, StringComparison.Ordinal);
        Assert.True(recorded.Length < 1024, $"the recorded argument is {recorded.Length} characters long");
        AssertElided(written, "/inputs/content", content);
        var readEntry = Assert.Single(entries, e => e.Capability == "filesystem.read");
        Assert.Equal(AuditStatus.Success, readEntry.Status);
        Assert.Matches(@"^ok: \d{7} bytes of output$", readEntry.OutputSummary);
        await AssertVerifiedWithTheCli(gateway);
    }

    [Fact]
    public async Task Should_audit_in_process_calls_whose_arguments_hold_a_2_MiB_key_a_2_MiB_value_and_an_unrepresentable_number()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("odd-args");
        await using var ws = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await ws.InitializeAsync();
        var hugeKey = BigText(TwoMiB, "key-");
        var hugeValue = BigText(TwoMiB, "value-");

        // act: three calls the validator refuses (unknown fields) — refused at the boundary, and audited with what was sent
        var key = await ws.RequestAsync(1, "tools/call", Call("system__time", new JsonObject { [hugeKey] = 1 }));
        var value = await ws.RequestAsync(2, "tools/call", Call("system__time", new JsonObject { ["pad"] = hugeValue }));
        await ws.SendAsync("""{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"system__time","arguments":{"huge":1e400,"tiny":-1e400}}}""");
        JsonObject number;
        do number = (await ws.ReceiveAsync())!; while (number["id"]?.GetValue<int>() != 3);
        var after = await ws.RequestAsync(4, "tools/call", Call("system__time", new JsonObject()));

        // assert: every call answered, none by a crash
        foreach (var r in new[] { key, value, number })
        {
            Assert.True(IsError(r));
            Assert.Contains("InvalidInput", Text(r), StringComparison.Ordinal);
        }
        Assert.False(IsError(after), Text(after));
        var entries = await EntriesOf(gateway, "odd-args");
        Assert.Equal(4, entries.Count);
        var recordedKey = Assert.Single(entries[0].Inputs.EnumerateObject()).Name;
        Assert.StartsWith("key-", recordedKey, StringComparison.Ordinal);
        Assert.Contains($"sha256:{Sha256Hex(hugeKey)}", recordedKey, StringComparison.Ordinal);
        Assert.Contains($"sha256:{Sha256Hex(hugeValue)}", entries[1].Inputs.GetProperty("pad").GetString(), StringComparison.Ordinal);
        AssertElided(entries[1], "/inputs/pad", hugeValue);
        // the numbers are kept as they were written, as text, and listed
        Assert.Equal("1e400", entries[2].Inputs.GetProperty("huge").GetString());
        Assert.Equal("-1e400", entries[2].Inputs.GetProperty("tiny").GetString());
        Assert.Contains(entries[2].Metadata.Details!.Value.GetProperty("elided").EnumerateArray(),
            e => e.GetProperty("path").GetString() == "/inputs/huge" && e.GetProperty("reason").GetString() == "number");
        Assert.Equal(AuditStatus.Success, entries[3].Status);
        await AssertVerifiedWithTheCli(gateway);
    }

    [Fact]
    public async Task Should_keep_every_entry_of_another_agent_through_a_burst_of_2_MiB_calls_and_keep_auditing_afterwards()
    {
        // arrange: a flood of oversized calls from one agent while another makes ordinary calls at the same time
        await using var gateway = await TestGateway.StartAsync();
        var floodToken = await gateway.CreateAgentAsync("flood");
        var bystanderToken = await gateway.CreateAgentAsync("bystander");
        await using var flood = await RawWebSocket.ConnectAsync(gateway.McpWs, floodToken);
        await using var bystander = await RawWebSocket.ConnectAsync(gateway.McpWs, bystanderToken);
        await flood.InitializeAsync();
        await bystander.InitializeAsync();
        const int FloodCalls = 12; // more than the 10 restarts a minute the writer was once allowed
        const int BystanderCalls = 24;
        var pad = BigText(TwoMiB, "flood-");

        // act: both sockets send all their calls at once (pipelined), then collect the answers
        var floodAnswers = Pipelined(flood, FloodCalls, i => Call("system__info", new JsonObject { ["pad"] = pad + i }));
        var bystanderAnswers = Pipelined(bystander, BystanderCalls, _ => Call("system__time", new JsonObject()));
        var floods = await floodAnswers;
        var ordinary = await bystanderAnswers;
        var afterwards = await bystander.RequestAsync(1000, "tools/call", Call("system__time", new JsonObject()));

        // assert: every ordinary call succeeded and is on record; every flood call was refused and is on record
        Assert.All(ordinary, r => Assert.False(IsError(r), Text(r)));
        Assert.All(floods, r => Assert.True(Text(r).Contains("InvalidInput", StringComparison.Ordinal), Text(r)[..Math.Min(400, Text(r).Length)]));
        Assert.False(IsError(afterwards), Text(afterwards));
        var bystanderEntries = await EntriesOf(gateway, "bystander");
        Assert.Equal(BystanderCalls + 1, bystanderEntries.Count(e => e.Capability == "system.time" && e.Status == AuditStatus.Success));
        var floodEntries = await EntriesOf(gateway, "flood");
        Assert.Equal(FloodCalls, floodEntries.Count);
        Assert.All(floodEntries, e => Assert.Matches(@"^flood-a+…\[elided: 20971(53|54) bytes, sha256:[0-9A-F]{64}\]$", e.Inputs.GetProperty("pad").GetString()));
        Assert.True(AuditVerifier.VerifyDirectory(AuditDir(gateway)).IsIntact);
        using var http = new HttpClient();
        var health = await http.GetFromJsonAsync<JsonObject>($"http://127.0.0.1:{gateway.HealthPort}/health", TestContext.Current.CancellationToken);
        var audit = health!["services"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "audit")!;
        Assert.Equal("healthy", audit["status"]!.GetValue<string>());
    }

    // Sends `count` tools/call requests without waiting, then reads until every one is answered.
    private static async Task<List<JsonObject>> Pipelined(RawWebSocket ws, int count, Func<int, JsonObject> parameters)
    {
        for (var i = 0; i < count; i++)
            await ws.SendAsync(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 100 + i, ["method"] = "tools/call", ["params"] = parameters(i) }.ToJsonString());
        var answers = new Dictionary<int, JsonObject>();
        while (answers.Count < count)
        {
            var msg = await ws.ReceiveAsync() ?? throw new InvalidOperationException("socket closed");
            if (msg["id"] is { } id) answers[id.GetValue<int>()] = msg;
        }
        return [.. answers.OrderBy(a => a.Key).Select(a => a.Value)];
    }
}
