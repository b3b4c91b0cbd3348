using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Akka.Actor;
using KruxOS.Core.Alerts;
using KruxOS.Core.Control;
using KruxOS.Core.State;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Comms;

/// <summary>
/// Alerts (dedup, an agent's own alerts only, the gateway's own alerts from the event stream, the operator's list and
/// acknowledgement, <c>alerts_pending</c>) and pause/resume (calls fail fast with <c>SessionPaused</c> on an open
/// connection, durable across a restart), through a real gateway. One gateway for the class; each spec its own agents.
/// </summary>
public sealed class AlertsAndPauseSpecs(AlertsAndPauseSpecs.Fixture gw) : IClassFixture<AlertsAndPauseSpecs.Fixture>
{
    /// <summary>One gateway for the class.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public TestGateway Gateway { get; set; } = null!;

        public async ValueTask InitializeAsync() => Gateway = await TestGateway.StartAsync();

        public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();
    }

    private static string Unique(string prefix) => prefix + "-" + Guid.NewGuid().ToString("N")[..6];

    private static async Task WaitForAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        while (!await condition() && DateTime.UtcNow < deadline) await Task.Delay(100);
        Assert.True(await condition(), what);
    }

    [Fact]
    public async Task Should_collapse_identical_alerts_with_a_count_and_show_an_agent_only_its_own()
    {
        // arrange
        var (a, b) = (Unique("alerter"), Unique("bystander"));
        var aToken = await gw.Gateway.CreateAgentAsync(a);
        var bToken = await gw.Gateway.CreateAgentAsync(b);
        var alert = new JsonObject { ["message"] = "disk of the build box is full", ["severity"] = "warning", ["context"] = new JsonObject { ["used"] = 91, ["box"] = "b1" } };
        var reordered = new JsonObject { ["message"] = "disk of the build box is full", ["severity"] = "warning", ["context"] = new JsonObject { ["box"] = "b1", ["used"] = 91.0 } };

        // act
        var first = await Rpc.OkAsync(gw.Gateway.GatewayPort, aToken, "alerts.send", alert);
        var second = await Rpc.OkAsync(gw.Gateway.GatewayPort, aToken, "alerts.send", reordered);
        var other = await Rpc.OkAsync(gw.Gateway.GatewayPort, aToken, "alerts.send", new JsonObject { ["message"] = "something else" });
        var own = await Rpc.OkAsync(gw.Gateway.GatewayPort, aToken, "alerts.list");
        var theirs = await Rpc.OkAsync(gw.Gateway.GatewayPort, bToken, "alerts.list");
        var foreignAck = await Rpc.ErrorAsync(gw.Gateway.GatewayPort, bToken, "alerts.acknowledge",
            new JsonObject { ["alert_id"] = first["alert_id"]!.GetValue<string>() });
        var traversal = await Rpc.ErrorAsync(gw.Gateway.GatewayPort, aToken, "alerts.acknowledge", new JsonObject { ["alert_id"] = "../../etc/passwd" });
        var ack = await Rpc.OkAsync(gw.Gateway.GatewayPort, aToken, "alerts.acknowledge",
            new JsonObject { ["alert_id"] = first["alert_id"]!.GetValue<string>(), ["acknowledged_by"] = "user:root" });
        var again = await Rpc.OkAsync(gw.Gateway.GatewayPort, aToken, "alerts.acknowledge", new JsonObject { ["alert_id"] = first["alert_id"]!.GetValue<string>() });
        var after = await Rpc.OkAsync(gw.Gateway.GatewayPort, aToken, "alerts.list", new JsonObject { ["status"] = "acknowledged" });

        // assert: one record, count 2, newest first; the bystander sees none and cannot touch it
        Assert.Equal(first["alert_id"]!.GetValue<string>(), second["alert_id"]!.GetValue<string>());
        Assert.Equal("dashboard", first["delivered_to"]!.GetValue<string>());
        var list = own["alerts"]!.AsArray();
        Assert.Equal(2, own["total"]!.GetValue<int>());
        Assert.Equal(other["alert_id"]!.GetValue<string>(), list[0]!["alert_id"]!.GetValue<string>());
        var collapsed = list[1]!;
        Assert.Equal(2, collapsed["count"]!.GetValue<int>());
        Assert.Equal(a, collapsed["source"]!.GetValue<string>());
        Assert.Equal(0, theirs["total"]!.GetValue<int>());
        Assert.Equal("AlertNotFound", foreignAck["type"]!.GetValue<string>());
        Assert.Equal("AlertNotFound", traversal["type"]!.GetValue<string>());
        Assert.True(ack["acknowledged"]!.GetValue<bool>());
        Assert.False(again["acknowledged"]!.GetValue<bool>());
        // acknowledged under the caller's identity, not the name it offered
        Assert.Equal(a, Assert.Single(after["alerts"]!.AsArray())!["acknowledged_by"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_raise_system_alerts_from_the_event_stream_for_the_operator_and_count_them_pending()
    {
        // arrange
        var marker = Unique("rotation");
        var system = gw.Gateway.Services.GetRequiredService<ActorSystem>();
        var before = await PendingAsync();

        // act: a component publishes the same alert twice
        for (var i = 0; i < 2; i++)
            system.EventStream.Publish(new SystemAlertRaised("vault", AlertSeverity.Critical, $"secret {marker} asks for rotation",
                StoredJson.Parse("""{"secret":"x"}""")));
        JsonNode? raised = null;
        await WaitForAsync(async () =>
        {
            var all = (await gw.Gateway.ControlAsync(ControlProtocol.Methods.AlertList, new JsonObject { ["status"] = "pending" }))["alerts"]!.AsArray();
            raised = all.FirstOrDefault(x => x!["message"]!.GetValue<string>().Contains(marker, StringComparison.Ordinal) && x["count"]!.GetValue<int>() == 2);
            return raised is not null;
        }, "the system alert did not reach the store");
        var pendingWith = await PendingAsync();
        var acked = await gw.Gateway.ControlAsync(ControlProtocol.Methods.AlertAck, new JsonObject { ["id"] = raised!["alert_id"]!.GetValue<string>() });
        var pendingAfter = await PendingAsync();
        var token = await gw.Gateway.CreateAgentAsync(Unique("looker"));
        var health = await Rpc.OkAsync(gw.Gateway.GatewayPort, token, "system.health");

        // assert
        Assert.Equal("system:vault", raised["source"]!.GetValue<string>());
        Assert.Equal("critical", raised["severity"]!.GetValue<string>());
        Assert.Equal(before + 1, pendingWith);
        Assert.True(acked["acknowledged"]!.GetValue<bool>());
        Assert.Equal(before, pendingAfter);
        Assert.Equal(pendingAfter, health["queue_depths"]!["alerts_pending"]!.GetValue<int>());
        // an agent never sees the gateway's alerts
        Assert.Equal(0, (await Rpc.OkAsync(gw.Gateway.GatewayPort, token, "alerts.list"))["total"]!.GetValue<int>());
    }

    private async Task<int> PendingAsync()
    {
        using var http = new HttpClient();
        var body = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{gw.Gateway.HealthPort}/health"))!;
        return body["agent_metrics"]!["alerts_pending"]!.GetValue<int>();
    }

    [Fact]
    public async Task Should_fail_every_call_of_a_paused_agent_fast_with_SessionPaused_on_its_open_connection_until_resumed_also_across_a_restart()
    {
        // arrange: an agent connected over WebSocket
        var name = Unique("pausable");
        var token = await gw.Gateway.CreateAgentAsync(name);
        await using var ws = await RawWebSocket.ConnectAsync(gw.Gateway.McpWs, token);
        await ws.InitializeAsync();
        var call = new JsonObject { ["name"] = "system__time", ["arguments"] = new JsonObject() };
        var ok = await ws.RequestAsync(2, "tools/call", call.DeepClone().AsObject());

        // act
        var paused = await gw.Gateway.ControlAsync(ControlProtocol.Methods.Pause, new JsonObject { ["name"] = name });
        var whilePaused = await ws.RequestAsync(3, "tools/call", call.DeepClone().AsObject());
        var rpcWhilePaused = await Rpc.ErrorAsync(gw.Gateway.GatewayPort, token, "comms.receive");
        gw.Gateway = await gw.Gateway.RestartAsync();
        var afterRestart = await Rpc.ErrorAsync(gw.Gateway.GatewayPort, token, "system.time");
        var resumed = await gw.Gateway.ControlAsync(ControlProtocol.Methods.Resume, new JsonObject { ["name"] = name });
        var afterResume = await Rpc.OkAsync(gw.Gateway.GatewayPort, token, "system.time");
        var unknown = await Assert.ThrowsAsync<InvalidOperationException>(() => gw.Gateway.ControlAsync(ControlProtocol.Methods.Pause, new JsonObject { ["name"] = "nobody-at-all" }));

        // assert
        Assert.Null(ok["result"]!["isError"]?.GetValue<bool>() == true ? "error" : null);
        Assert.True(paused["paused"]!.GetValue<bool>());
        Assert.True(whilePaused["result"]!["isError"]!.GetValue<bool>(), whilePaused.ToJsonString());
        Assert.Contains("SessionPaused", whilePaused.ToJsonString(), StringComparison.Ordinal);
        Assert.Equal(WebSocketState.Open, ws.Socket.State);
        Assert.Equal("SessionPaused", rpcWhilePaused["type"]!.GetValue<string>());
        Assert.Equal("SessionPaused", afterRestart["type"]!.GetValue<string>());
        Assert.False(resumed["paused"]!.GetValue<bool>());
        Assert.NotNull(afterResume["utc"]);
        Assert.Contains("NotFound", unknown.Message, StringComparison.Ordinal);
    }
}
