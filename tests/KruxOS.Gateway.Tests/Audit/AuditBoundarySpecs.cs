using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Core.Audit;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary>Refusals decided at the protocol edge still leave an audit entry: they are answered through the agent's session.</summary>
public sealed class AuditBoundarySpecs
{
    private static async Task<List<AuditEntry>> EntriesOf(TestGateway gateway, string agent) =>
        [.. (await new AuditReader(Path.Combine(gateway.DataDir, "audit")).QueryAsync(new AuditQuery { Agent = agent, Ascending = true },
            TestContext.Current.CancellationToken)).Entries.Select(v => v.Entry)];

    [Fact]
    public async Task Should_audit_a_tools_call_refused_for_an_invalid_idempotency_key()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("keyed");
        await using var ws = await RawWebSocket.ConnectAsync(gateway.McpWs, token);
        await ws.InitializeAsync();

        // act: a key with spaces, and a key that is not a string
        var spaced = await ws.RequestAsync(2, "tools/call", new JsonObject
        {
            ["name"] = "system__time", ["arguments"] = new JsonObject(), ["_meta"] = new JsonObject { ["kruxos/idempotency_key"] = "no spaces allowed" },
        });
        var numeric = await ws.RequestAsync(3, "tools/call", new JsonObject
        {
            ["name"] = "system__time", ["arguments"] = new JsonObject(), ["_meta"] = new JsonObject { ["kruxos/idempotency_key"] = 12345678 },
        });

        // assert: both answered as before, both on record, nothing ran
        Assert.True(spaced["result"]!["isError"]!.GetValue<bool>());
        Assert.Contains("InvalidInput", spaced["result"]!["content"]![0]!["text"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.True(numeric["result"]!["isError"]!.GetValue<bool>());
        var entries = await EntriesOf(gateway, "keyed");
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e =>
        {
            Assert.Equal((AuditEntryKind.Call, AuditStatus.Error, "InvalidInput", "system.time"), (e.Kind, e.Status, e.Metadata.ErrorType, e.Capability));
            Assert.Contains("idempotency_key", e.OutputSummary, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Should_audit_a_json_rpc_call_refused_because_its_session_expired()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("rpc-bot");
        using var http = new HttpClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

        // act: a call on a session the gateway does not know (expired, or never created)
        using var response = await http.PostAsync(new Uri($"http://127.0.0.1:{gateway.GatewayPort}/rpc"), new StringContent(
            """{"jsonrpc":"2.0","id":1,"method":"capabilities.invoke","params":{"capability":"system.time","arguments":{},"session_id":"sess-gone"}}""",
            Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;

        // assert
        Assert.False(body["result"]!["success"]!.GetValue<bool>());
        Assert.Equal("SessionExpired", body["result"]!["error"]!["type"]!.GetValue<string>());
        var entry = Assert.Single(await EntriesOf(gateway, "rpc-bot"));
        Assert.Equal((AuditStatus.Error, "SessionExpired", "sess-gone"), (entry.Status, entry.Metadata.ErrorType, entry.SessionId));
        Assert.Equal("jsonrpc", entry.Client!.Name);
    }
}
