using System.Net;
using System.Text.Json.Nodes;
using KruxOS.Actors.Health;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>The health port (spec §4.3): the documented body, and the status code and readiness that follow the worst check.</summary>
public sealed class HealthSpecs : IAsyncLifetime
{
    private TestGateway _gateway = null!;
    private readonly HttpClient _http = new();

    public async ValueTask InitializeAsync() => _gateway = await TestGateway.StartAsync();

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _gateway.DisposeAsync();
    }

    [Fact]
    public async Task Should_report_every_documented_key()
    {
        var (status, body) = await GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, status);
        AssertKeys(body, "status", "services", "resources", "agent_metrics", "generated_at", "total_latency_ms");
        foreach (var service in body["services"]!.AsArray()) AssertKeys(service!, "name", "status", "latency_ms", "details", "checked_at");
        AssertKeys(body["resources"]!, "cpu_percent", "memory_used_bytes", "memory_total_bytes", "memory_percent", "disk_used_bytes", "disk_total_bytes",
            "disk_percent", "load_average_1m", "load_average_5m", "load_average_15m", "collected_at");
        AssertKeys(body["agent_metrics"]!, "active_sessions", "total_invocations", "approval_queue_depth", "dead_letter_queue_depth", "comms_queue_depth", "alerts_pending", "collected_at");
        var (readyStatus, ready) = await GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, readyStatus);
        AssertKeys(ready, "ready", "status");
    }

    [Fact]
    public async Task Should_answer_200_degraded_when_the_worst_check_is_degraded()
    {
        _gateway.Services.GetRequiredService<HealthRegistry>().Register("spec-degraded", _ => ValueTask.FromResult(HealthCheckResult.Degraded("slow disk")));
        var (status, body) = await GetAsync("/health");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("degraded", body["status"]!.GetValue<string>());
        var (readyStatus, ready) = await GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, readyStatus);
        Assert.True(ready["ready"]!.GetValue<bool>());
        Assert.Equal("degraded", ready["status"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_answer_503_and_not_ready_when_a_check_is_critical()
    {
        // arrange
        _gateway.Services.GetRequiredService<HealthRegistry>().Register("spec-critical", _ => ValueTask.FromResult(HealthCheckResult.Critical("on fire")));

        // act
        var (status, body) = await GetAsync("/health");
        var (readyStatus, ready) = await GetAsync("/health/ready");

        // assert: the top-level status is the worst service's, and the body is still the full report
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("critical", body["status"]!.GetValue<string>());
        var failing = body["services"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "spec-critical")!;
        Assert.Equal(("critical", "on fire"), (failing["status"]!.GetValue<string>(), failing["details"]!.GetValue<string>()));
        AssertKeys(body, "status", "services", "resources", "agent_metrics", "generated_at", "total_latency_ms");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, readyStatus);
        Assert.False(ready["ready"]!.GetValue<bool>());
        Assert.Equal("critical", ready["status"]!.GetValue<string>());
    }

    private async Task<(HttpStatusCode Status, JsonNode Body)> GetAsync(string path)
    {
        using var response = await _http.GetAsync($"http://127.0.0.1:{_gateway.HealthPort}{path}");
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    private static void AssertKeys(JsonNode node, params string[] keys)
    {
        var present = node.AsObject().Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
        foreach (var key in keys) Assert.True(present.Contains(key), $"missing '{key}' in {node.ToJsonString()}");
    }
}
