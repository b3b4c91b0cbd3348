using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Telemetry;

/// <summary>
/// OTLP export to a collector the spec runs on loopback: a held call's trace (the call span and its decide, hold, execute
/// and audit children, with the agent and session), and nothing an agent sent — not its token, not its arguments, not a
/// name the catalogue does not know — in anything exported.
/// </summary>
public sealed class OtlpExportSpecs
{
    private const string Agent = "traced";

    private static async Task<JsonArray> PendingAsync(TestGateway gateway, Task call)
    {
        var deadline = DateTimeOffset.UtcNow + TestTimeouts.Process;
        while (DateTimeOffset.UtcNow < deadline)
        {
            var pending = (await gateway.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "pending" }))["approvals"]!.AsArray();
            if (pending.Count > 0) return pending;
            if (call.IsCompleted) Assert.Fail("the held call finished before it was decided");
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException("the held call never appeared in the approval queue");
    }

    private static async Task<List<ReceivedSpan>> TraceOfAsync(OtlpReceiver receiver, Func<ReceivedSpan, bool> root, int spans)
    {
        var deadline = DateTimeOffset.UtcNow + TestTimeouts.Process;
        while (DateTimeOffset.UtcNow < deadline)
        {
            var all = receiver.Spans;
            if (all.FirstOrDefault(root) is { } call)
            {
                var trace = all.Where(s => s.TraceId == call.TraceId).ToList();
                if (trace.Count >= spans) return trace;
            }
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException($"no complete trace arrived; spans received: {string.Join(", ", receiver.Spans.Select(s => s.Name))}");
    }

    [Fact]
    public async Task Should_export_a_held_calls_span_with_its_decide_hold_execute_and_audit_children_and_nothing_the_agent_sent()
    {
        // arrange: a collector on loopback, and a gateway exporting to it whose policy holds system.time for the agent
        await using var receiver = new OtlpReceiver();
        await using var gateway = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-otlp-", Agent), "--otlp-endpoint", receiver.Endpoint);
        var token = await gateway.CreateAgentAsync(Agent);
        var argumentMarker = "Etc/GMT-" + Random.Shared.Next(1, 12);
        var nameMarker = "zz" + Guid.NewGuid().ToString("N")[..12];

        // act: a held MCP call (Node SDK over WebSocket), approved over the control socket; then an unknown tool
        var call = NodeClients.RunAsync(token, ["--transport", "ws", "--url", gateway.McpWs.ToString(), "--call", "system__time", $$"""{"timezone":"{{argumentMarker}}"}"""]);
        var pending = await PendingAsync(gateway, call);
        var approvalId = pending[0]!["id"]!.GetValue<string>();
        await gateway.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = approvalId, ["reason"] = "traced" });
        var session = await call;
        Assert.False(session["results"]![0]!["isError"]!.GetValue<bool>(), session.ToJsonString());
        var unknown = await NodeClients.RunAsync(token, ["--transport", "ws", "--url", gateway.McpWs.ToString(), "--call", nameMarker + "__op", $$"""{"x":"{{nameMarker}}"}"""]);
        Assert.True(unknown["results"]![0]!["isError"]!.GetValue<bool>(), unknown.ToJsonString());

        // assert: the held call's trace — one root span, its four stage children, in pipeline order
        var trace = await TraceOfAsync(receiver, s => s.Name == "kruxos.call" && s["kruxos.agent"] == Agent && s["kruxos.approval.id"] == approvalId, 5);
        var root = Assert.Single(trace, s => s.Name == "kruxos.call");
        Assert.Equal("KruxOS", root.Scope);
        Assert.Equal("", root.ParentSpanId);
        Assert.Equal("system.time", root["kruxos.capability"]);
        Assert.Equal("approval_required", root["kruxos.tier"]);
        Assert.Equal("success", root["kruxos.outcome"]);
        Assert.Equal("approved", root["kruxos.approval.decision"]);
        Assert.StartsWith("sess-", root["kruxos.session"], StringComparison.Ordinal);
        var stages = new[] { "kruxos.call.decide", "kruxos.call.hold", "kruxos.call.execute", "kruxos.call.audit" }
            .Select(name => Assert.Single(trace, s => s.Name == name)).ToList();
        foreach (var stage in stages)
        {
            Assert.Equal(root.SpanId, stage.ParentSpanId);
            Assert.InRange(stage.StartNanos, root.StartNanos, root.EndNanos);
            Assert.InRange(stage.EndNanos, stage.StartNanos, root.EndNanos);
        }
        for (var i = 1; i < stages.Count; i++) Assert.True(stages[i].StartNanos >= stages[i - 1].EndNanos, $"{stages[i].Name} began before {stages[i - 1].Name} ended");

        // assert: the unknown tool's span is labelled "unknown" and the error code
        var refused = (await TraceOfAsync(receiver, s => s.Name == "kruxos.call" && s["kruxos.agent"] == Agent && s["kruxos.error.code"] == "CapabilityNotFound", 2))
            .Single(s => s.Name == "kruxos.call");
        Assert.Equal("unknown", refused["kruxos.capability"]);
        Assert.Equal(2, refused.StatusCode); // STATUS_CODE_ERROR

        // assert: nothing exported (traces or metrics) carries the token, the arguments or the agent-chosen name
        var exported = receiver.Requests.Select(r => Encoding.UTF8.GetString(r.Body)).ToList();
        Assert.NotEmpty(exported);
        Assert.DoesNotContain(exported, body => body.Contains(token, StringComparison.Ordinal));
        Assert.DoesNotContain(exported, body => body.Contains(argumentMarker, StringComparison.Ordinal));
        Assert.DoesNotContain(exported, body => body.Contains(nameMarker, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Should_report_otlp_export_and_metrics_in_status_exactly_as_configured()
    {
        await using var receiver = new OtlpReceiver();
        await using var exporting = await TestGateway.StartAsync(null, "--otlp-endpoint", receiver.Endpoint);
        await using var quiet = await TestGateway.StartAsync();

        var on = (await exporting.ControlAsync(ControlProtocol.Methods.Status))["telemetry"]!;
        var off = (await quiet.ControlAsync(ControlProtocol.Methods.Status))["telemetry"]!;

        Assert.Equal($"http://127.0.0.1:{exporting.HealthPort}/metrics", on["metrics"]!.GetValue<string>());
        Assert.Equal(receiver.Endpoint + "/", on["otlp"]!["endpoint"]!.GetValue<string>());
        Assert.Equal("http/protobuf", on["otlp"]!["protocol"]!.GetValue<string>());
        Assert.Equal($"http://127.0.0.1:{quiet.HealthPort}/metrics", off["metrics"]!.GetValue<string>());
        Assert.Null(off["otlp"]);

        // the kruxos CLI shows the same
        var shown = await ProcessRunner.Kruxos(exporting, "status");
        Assert.Equal(0, shown.ExitCode);
        Assert.Contains($"OTLP export:    {receiver.Endpoint}/ (http/protobuf)", shown.StdOut, StringComparison.Ordinal);
        Assert.Contains($"Metrics:        http://127.0.0.1:{exporting.HealthPort}/metrics", shown.StdOut, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_export_spans_over_grpc_when_configured()
    {
        // arrange: an OTLP/gRPC collector on loopback
        await using var receiver = await GrpcOtlpReceiver.StartAsync();
        await using var gateway = await TestGateway.StartAsync(null, "--otlp-endpoint", receiver.Endpoint, "--otlp-protocol", "grpc");
        var token = await gateway.CreateAgentAsync("grpc-traced");

        // act
        var session = await NodeClients.RunAsync(token, ["--transport", "http", "--url", gateway.McpHttp.ToString(), "--call", "system__time", "{}"]);
        Assert.False(session["results"]![0]!["isError"]!.GetValue<bool>(), session.ToJsonString());

        // assert: the call's span and its three stages (nothing held) arrived over gRPC
        var deadline = DateTimeOffset.UtcNow + TestTimeouts.Process;
        List<ReceivedSpan> trace = [];
        while (DateTimeOffset.UtcNow < deadline)
        {
            var spans = receiver.Spans;
            if (spans.FirstOrDefault(s => s.Name == "kruxos.call" && s["kruxos.agent"] == "grpc-traced") is { } call)
            {
                trace = [.. spans.Where(s => s.TraceId == call.TraceId)];
                if (trace.Count >= 4) break;
            }
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
        Assert.Equal(["kruxos.call", "kruxos.call.audit", "kruxos.call.decide", "kruxos.call.execute"], trace.Select(s => s.Name).Order(StringComparer.Ordinal));
    }
}
