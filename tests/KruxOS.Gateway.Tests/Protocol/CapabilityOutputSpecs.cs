using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>
/// The in-process capabilities answer exactly the outputs of spec §8.4 / §8.16: every key, no other, each of
/// its type; and the queue depths they report are real.
/// </summary>
public sealed class CapabilityOutputSpecs : IAsyncLifetime
{
    private const string Agent = "shapes";
    private TestGateway _gateway = null!;
    private RawWebSocket _ws = null!;
    private string _token = null!;
    private int _id;

    public async ValueTask InitializeAsync()
    {
        // system.time needs approval for this agent: a way to leave one approval pending
        _gateway = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-shapes-", Agent));
        _token = await _gateway.CreateAgentAsync(Agent);
        _ws = await RawWebSocket.ConnectAsync(_gateway.McpWs, _token);
        await _ws.InitializeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _ws.DisposeAsync();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Should_answer_system_info_with_exactly_its_outputs()
    {
        var info = await CallAsync("system__info");
        AssertShape(info, ("os_version", "string"), ("uptime_seconds", "integer"), ("agent_count", "integer"), ("cpu_count", "integer"),
            ("memory_total_bytes", "integer"), ("memory_available_bytes", "integer"), ("disk_total_bytes", "integer"), ("disk_available_bytes", "integer"));
        Assert.Equal(2, info["agent_count"]!.GetValue<long>()); // admin (first start) and this agent
        Assert.Equal(Environment.ProcessorCount, info["cpu_count"]!.GetValue<int>());
        Assert.InRange(info["memory_available_bytes"]!.GetValue<long>(), 1, info["memory_total_bytes"]!.GetValue<long>());
        Assert.InRange(info["disk_available_bytes"]!.GetValue<long>(), 0, info["disk_total_bytes"]!.GetValue<long>());
    }

    [Fact]
    public async Task Should_answer_system_health_with_exactly_its_outputs_and_count_pending_approvals()
    {
        // arrange: one call held for approval (answered -32002 at once on /rpc; the request stays pending)
        var held = await PostRpcAsync("""{"jsonrpc":"2.0","id":1,"method":"capabilities.invoke","params":{"capability":"system.time","arguments":{}}}""");
        Assert.Equal(-32002, held["error"]!["code"]!.GetValue<int>());

        // act
        var health = await CallAsync("system__health");

        // assert
        AssertShape(health, ("overall_status", "string"), ("services", "array"), ("resource_usage", "object"), ("queue_depths", "object"));
        Assert.Contains(health["overall_status"]!.GetValue<string>(), new[] { "healthy", "degraded", "unhealthy" });
        Assert.NotEmpty(health["services"]!.AsArray());
        foreach (var service in health["services"]!.AsArray())
        {
            AssertShape(service!.AsObject(), ("name", "string"), ("status", "string"), ("message", "string"));
            Assert.Contains(service["status"]!.GetValue<string>(), new[] { "healthy", "degraded", "unhealthy" });
        }
        AssertShape(health["resource_usage"]!.AsObject(), ("cpu_percent", "number"), ("memory_percent", "number"), ("disk_percent", "number"), ("open_files", "integer"));
        AssertShape(health["queue_depths"]!.AsObject(), ("approval_pending", "integer"), ("alerts_pending", "integer"), ("audit_buffer", "integer"));
        Assert.Equal(1, health["queue_depths"]!["approval_pending"]!.GetValue<int>());

        // the health port's agent metrics count the same queue
        using var http = new HttpClient();
        var report = JsonNode.Parse(await http.GetStringAsync($"http://127.0.0.1:{_gateway.HealthPort}/health"))!;
        Assert.Equal(1, report["agent_metrics"]!["approval_queue_depth"]!.GetValue<int>());
    }

    [Fact]
    public async Task Should_answer_system_metrics_for_each_window_echoing_it_with_5m_by_default_and_refuse_other_windows()
    {
        // the first host sample may still be on its way
        var deadline = DateTime.UtcNow + TestTimeouts.Call;
        JsonObject metrics;
        while ((metrics = await CallAsync("system__metrics", allowError: true))["error"] is not null)
        {
            Assert.Equal("MetricsError", metrics["error"]!.GetValue<string>());
            Assert.True(DateTime.UtcNow < deadline, "no host sample in time");
            await Task.Delay(250);
        }
        AssertShape(metrics, ("window", "string"), ("cpu", "object"), ("memory", "object"), ("disk_io", "object"), ("network_io", "object"));
        Assert.Equal("5m", metrics["window"]!.GetValue<string>());
        AssertShape(metrics["cpu"]!.AsObject(), ("average_percent", "number"), ("peak_percent", "number"));
        AssertShape(metrics["memory"]!.AsObject(), ("average_bytes", "integer"), ("peak_bytes", "integer"), ("average_percent", "number"));
        AssertShape(metrics["disk_io"]!.AsObject(), ("read_bytes", "integer"), ("write_bytes", "integer"));
        AssertShape(metrics["network_io"]!.AsObject(), ("rx_bytes", "integer"), ("tx_bytes", "integer"));

        foreach (var window in new[] { "1m", "5m", "15m", "1h", "24h" })
            Assert.Equal(window, (await CallAsync("system__metrics", new JsonObject { ["window"] = window }))["window"]!.GetValue<string>());
        foreach (var bad in new JsonNode[] { "2m", "1d", "", 5 })
        {
            var refused = await CallAsync("system__metrics", new JsonObject { ["window"] = bad.DeepClone() }, allowError: true);
            Assert.Equal("InvalidInput", refused["error"]!.GetValue<string>());
            Assert.Equal("window", refused["context"]!["field"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task Should_answer_agent_whoami_with_exactly_its_outputs()
    {
        var me = await CallAsync("agent__whoami");
        AssertShape(me, ("agent_name", "string"), ("purpose", "string"), ("policy_group", "string"), ("workspace_path", "string"), ("created_at", "string"));
        Assert.Equal(Agent, me["agent_name"]!.GetValue<string>());
        Assert.Equal("tests", me["purpose"]!.GetValue<string>());
        Assert.Equal("/workspace", me["workspace_path"]!.GetValue<string>());
        Assert.True(DateTimeOffset.Parse(me["created_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture) > DateTimeOffset.UtcNow.AddHours(-1));
    }

    [Fact]
    public async Task Should_answer_agent_session_with_exactly_its_outputs()
    {
        var first = await CallAsync("agent__session");
        var second = await CallAsync("agent__session");
        AssertShape(second, ("session_id", "string"), ("connected_at", "string"), ("duration_seconds", "integer"), ("invocation_count", "integer"),
            ("resource_usage", "object"), ("workspace_path", "string"), ("state_quota", "object"));
        Assert.StartsWith("sess-", second["session_id"]!.GetValue<string>());
        Assert.Equal(first["invocation_count"]!.GetValue<long>() + 1, second["invocation_count"]!.GetValue<long>());
        Assert.Equal("/workspace", second["workspace_path"]!.GetValue<string>());
        // resource_usage carries at least the spec's four counters (per-call usage may add detail)
        var usage = second["resource_usage"]!.AsObject();
        foreach (var key in new[] { "cpu_ms", "memory_bytes", "io_bytes_read", "io_bytes_written" })
            Assert.Equal(JsonValueKind.Number, usage[key]!.GetValueKind());
        AssertShape(second["state_quota"]!.AsObject(), ("used_bytes", "integer"), ("limit_bytes", "integer"), ("percent", "number"));
        Assert.Equal(100L * 1024 * 1024, second["state_quota"]!["limit_bytes"]!.GetValue<long>());
    }

    private async Task<JsonObject> CallAsync(string tool, JsonObject? arguments = null, bool allowError = false)
    {
        var r = await _ws.RequestAsync(++_id, "tools/call", new JsonObject { ["name"] = tool, ["arguments"] = arguments ?? new JsonObject() });
        var result = r["result"] ?? throw new InvalidOperationException(r.ToJsonString());
        var body = JsonNode.Parse(result["content"]![0]!["text"]!.GetValue<string>())!.AsObject();
        var isError = result["isError"]?.GetValue<bool>() ?? false;
        if (isError && !allowError) throw new InvalidOperationException($"{tool} failed: {body.ToJsonString()}");
        return body;
    }

    private async Task<JsonNode> PostRpcAsync(string body)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{_gateway.GatewayPort}/rpc") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", _token);
        using var response = await http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    /// <summary>Exactly these keys, each of its kind: string, integer, number, object, array.</summary>
    internal static void AssertShape(JsonObject o, params (string Key, string Kind)[] expected)
    {
        Assert.Equal(expected.Select(e => e.Key).Order(StringComparer.Ordinal), o.Select(kv => kv.Key).Order(StringComparer.Ordinal));
        foreach (var (key, kind) in expected)
        {
            var value = o[key];
            var actual = value?.GetValueKind() ?? JsonValueKind.Null;
            var ok = kind switch
            {
                "string" => actual == JsonValueKind.String,
                "integer" => actual == JsonValueKind.Number && value!.AsValue().TryGetValue<long>(out _),
                "number" => actual == JsonValueKind.Number,
                "object" => actual == JsonValueKind.Object,
                "array" => actual == JsonValueKind.Array,
                _ => throw new ArgumentException($"unknown kind {kind}"),
            };
            Assert.True(ok, $"'{key}' should be {kind} but is {actual}: {value?.ToJsonString()}");
        }
    }
}
