using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Cluster;

/// <summary>A call held over one MCP WebSocket connection to one edge.</summary>
internal sealed class HeldCall : IAsyncDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(120);

    private readonly Support.RawWebSocket _socket;
    private readonly Task<JsonObject?> _answer;

    private HeldCall(GatewayOsProcess edge, string agent, string timezone, Support.RawWebSocket socket)
    {
        Edge = edge;
        Agent = agent;
        Timezone = timezone;
        _socket = socket;
        _answer = Task.Run(async () =>
        {
            while (await socket.ReceiveAsync(Bound * 3) is { } msg)
                if (msg["id"]?.GetValue<int>() == 1) return msg;
            return null;
        });
    }

    public GatewayOsProcess Edge { get; }
    public string Agent { get; }
    public string Timezone { get; }
    public string? ApprovalId { get; set; }

    public static async Task<HeldCall> StartAsync(GatewayOsProcess edge, string agent, string token, string timezone, bool keyed)
    {
        var deadline = DateTime.UtcNow + Bound;
        Support.RawWebSocket socket;
        while (true)
        {
            // A node may not know the new agent for a moment (identities replicate from the shared journal).
            try
            {
                socket = await Support.RawWebSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{edge.GatewayPort}/mcp"), token);
                break;
            }
            catch (System.Net.WebSockets.WebSocketException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
        await socket.InitializeAsync();
        var p = new JsonObject { ["name"] = "system__time", ["arguments"] = new JsonObject { ["timezone"] = timezone } };
        if (keyed) p["_meta"] = new JsonObject { ["kruxos/idempotency_key"] = "kbr-" + Guid.NewGuid().ToString("N") };
        await socket.SendAsync(new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "tools/call", ["params"] = p }.ToJsonString());
        return new HeldCall(edge, agent, timezone, socket);
    }

    public async Task<JsonObject> AnswerAsync(TimeSpan timeout) =>
        await _answer.WaitAsync(timeout) ?? throw new InvalidOperationException($"the connection of {Agent} to {Edge.Name} closed without an answer");

    public ValueTask DisposeAsync() => _socket.DisposeAsync();

    // True once every held call's approval is listed pending; records each call's approval id.
    public static async Task<bool> ApprovalsListedAsync(GatewayOsProcess n, List<HeldCall> held)
    {
        var r = await n.ControlAsync(ControlProtocol.Methods.ApprovalList);
        Assert.True(r.Ok, r.ErrorMessage);
        var byTimezone = r.Result!["approvals"]!.AsArray()
            .Where(a => a!["arguments"]?["timezone"] is JsonValue)
            .ToDictionary(a => a!["arguments"]!["timezone"]!.GetValue<string>(), a => a!["id"]!.GetValue<string>(), StringComparer.Ordinal);
        foreach (var h in held) h.ApprovalId = byTimezone.GetValueOrDefault(h.Timezone);
        return held.All(h => h.ApprovalId is not null);
    }

    // The node whose audit log holds all of the agent's pending call entries (where its session entity runs), or null.
    public static async Task<GatewayOsProcess?> SessionNodeAsync(List<GatewayOsProcess> nodes, string agent, int calls)
    {
        foreach (var n in nodes)
        {
            var page = await new KruxOS.Audit.AuditReader(Path.Combine(n.DataDir, "audit"))
                .QueryAsync(new KruxOS.Audit.AuditQuery { Agent = agent, Status = KruxOS.Core.Audit.AuditStatus.Pending, Limit = KruxOS.Audit.AuditQuery.MaxLimit });
            if (page.Entries.Count >= calls) return n;
        }
        return null;
    }
}
