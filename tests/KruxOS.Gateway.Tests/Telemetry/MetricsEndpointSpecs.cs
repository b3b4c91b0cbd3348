using System.Net;
using System.Text.Json.Nodes;
using KruxOS.Capabilities;
using KruxOS.Core.Capabilities;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Telemetry;

/// <summary>One gateway for the class: an agent's real calls, then <c>/metrics</c> scraped on the health listener.</summary>
public sealed class MetricsGateway : IAsyncLifetime
{
    public TestGateway Gateway { get; private set; } = null!;

    public string Token { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Gateway = await TestGateway.StartAsync();
        Token = await Gateway.CreateAgentAsync("metered");
    }

    public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();

    /// <summary>The samples <c>/metrics</c> serves now.</summary>
    public async Task<IReadOnlyList<PrometheusSample>> ScrapeAsync()
    {
        using var http = new HttpClient { Timeout = TestTimeouts.Call };
        using var response = await http.GetAsync($"http://127.0.0.1:{Gateway.HealthPort}/metrics", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    /// <summary>Scrapes until <paramref name="done"/> holds (the exporter caches a scrape for 300 ms), or fails with the last scrape.</summary>
    public async Task<IReadOnlyList<PrometheusSample>> ScrapeUntilAsync(Func<IReadOnlyList<PrometheusSample>, bool> done)
    {
        var deadline = DateTimeOffset.UtcNow + TestTimeouts.Call;
        IReadOnlyList<PrometheusSample> last;
        do
        {
            last = await ScrapeAsync();
            if (done(last)) return last;
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
        while (DateTimeOffset.UtcNow < deadline);
        return last;
    }

    /// <summary>One <c>capabilities.invoke</c> over <c>/rpc</c> with the agent's token.</summary>
    public async Task<JsonNode> RpcInvokeAsync(HttpClient http, string capability, JsonObject arguments)
    {
        var body = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
            ["params"] = new JsonObject { ["capability"] = capability, ["arguments"] = arguments },
        }.ToJsonString();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{Gateway.GatewayPort}/rpc")
        {
            Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new("Bearer", Token);
        using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
    }
}

/// <summary>
/// Prometheus <c>/metrics</c> on the health listener after real calls: per-capability call counters and latency
/// histograms with their labels, every stage of the pipeline timed, errors by code, the approval queue and the audit
/// writer's commits — and label values an agent cannot inflate.
/// </summary>
public sealed class MetricsEndpointSpecs(MetricsGateway fixture) : IClassFixture<MetricsGateway>
{
    private const string Capability = "kruxos_capability";
    private const string Tier = "kruxos_tier";
    private const string Outcome = "kruxos_outcome";

    private static double Sum(IEnumerable<PrometheusSample> samples, string name, params (string Label, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s[l.Label] == l.Value)).Sum(s => s.Value);

    [Fact]
    public async Task Should_count_and_time_every_stage_of_real_mcp_calls_per_capability_tier_and_outcome()
    {
        // arrange: what this process had counted before (other gateways in the run share the meter)
        var before = await fixture.ScrapeAsync();
        var callsBefore = Sum(before, "kruxos_calls_total", (Capability, "system.time"), (Tier, "autonomous"), (Outcome, "success"));
        var notFoundBefore = Sum(before, "kruxos_call_errors_total", (Capability, "unknown"), ("kruxos_error_code", "CapabilityNotFound"));

        // act: the Node MCP SDK makes three real calls and one to a tool that does not exist
        var session = await NodeClients.RunAsync(fixture.Token, ["--transport", "http", "--url", fixture.Gateway.McpHttp.ToString(),
            "--call", "system__time", "{}", "--call", "system__time", """{"timezone":"UTC"}""", "--call", "system__time", "{}", "--call", "system__no_such_tool", "{}"]);
        Assert.True(session["connected"]!.GetValue<bool>(), session.ToJsonString());
        var samples = await fixture.ScrapeUntilAsync(s =>
            Sum(s, "kruxos_calls_total", (Capability, "system.time"), (Tier, "autonomous"), (Outcome, "success")) >= callsBefore + 3
            && Sum(s, "kruxos_call_errors_total", (Capability, "unknown"), ("kruxos_error_code", "CapabilityNotFound")) >= notFoundBefore + 1
            // other gateways of the test process start and stop beside this one, and once a scrape came without the gauge
            && s.Any(x => x.Name == "kruxos_approvals_pending"));

        // assert: the per-capability counter, with its labels
        Assert.True(Sum(samples, "kruxos_calls_total", (Capability, "system.time"), (Tier, "autonomous"), (Outcome, "success")) >= callsBefore + 3,
            "kruxos_calls_total{system.time, autonomous, success} did not count the three calls");
        Assert.True(Sum(samples, "kruxos_call_errors_total", (Capability, "unknown"), ("kruxos_error_code", "CapabilityNotFound")) >= notFoundBefore + 1,
            "the unknown tool's CapabilityNotFound was not counted under capability=\"unknown\"");
        Assert.Contains(samples, s => s.Name == "kruxos_calls_total" && s[Capability] == "unknown" && s[Tier] == "none" && s[Outcome] == "error");

        // assert: the latency histogram of the call, in seconds, with buckets ending at +Inf
        var buckets = samples.Where(s => s.Name == "kruxos_call_duration_seconds_bucket" && s[Capability] == "system.time" && s[Outcome] == "success").ToList();
        Assert.NotEmpty(buckets);
        Assert.Contains(buckets, b => b["le"] == "+Inf" && b.Value >= 3);
        Assert.Contains(buckets, b => b["le"] == "0.001");
        Assert.True(Sum(samples, "kruxos_call_duration_seconds_count", (Capability, "system.time"), (Outcome, "success")) >= 3);
        Assert.True(Sum(samples, "kruxos_call_duration_seconds_sum", (Capability, "system.time"), (Outcome, "success")) > 0);

        // assert: each stage a call of an autonomous capability goes through is timed (hold only for held calls)
        foreach (var stage in new[] { "decide", "execute", "audit" })
            Assert.True(Sum(samples, "kruxos_call_stage_duration_seconds_count", ("kruxos_stage", stage), (Capability, "system.time"), (Tier, "autonomous")) >= 3,
                $"stage {stage} of system.time was not timed");

        // assert: the audit writer's group commits, and the approval queue's gauge
        Assert.Contains(samples, s => s.Name == "kruxos_audit_commit_duration_seconds_count" && s["kruxos_result"] == "ok" && s.Value > 0);
        Assert.Contains(samples, s => s.Name == "kruxos_approvals_pending");
    }

    [Fact]
    public async Task Should_serve_metrics_on_the_health_listener_only()
    {
        using var http = new HttpClient { Timeout = TestTimeouts.Call };
        var ct = TestContext.Current.CancellationToken;

        using var health = await http.GetAsync($"http://127.0.0.1:{fixture.Gateway.HealthPort}/metrics", ct);
        using var gateway = await http.GetAsync($"http://127.0.0.1:{fixture.Gateway.GatewayPort}/metrics", ct);
        using var userApi = await http.GetAsync($"http://127.0.0.1:{fixture.Gateway.UserApiPort}/metrics", ct);

        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.StartsWith("text/plain", health.Content.Headers.ContentType?.MediaType ?? "", StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, gateway.StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, userApi.StatusCode);
    }

    [Fact]
    public async Task Should_add_one_capability_label_value_when_an_agent_calls_a_thousand_unknown_names()
    {
        // arrange: names no catalogue has, each distinct, all sharing a marker
        var marker = "zz" + Guid.NewGuid().ToString("N")[..10];
        var names = Enumerable.Range(0, 1000).Select(i => $"{marker}.op{i}").ToList();
        var catalogue = fixture.Gateway.Services.GetRequiredService<CapabilityCatalog>().Registry;
        var before = (await fixture.ScrapeAsync()).Select(s => s[Capability]).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var unknownBefore = Sum(await fixture.ScrapeAsync(), "kruxos_calls_total", (Capability, "unknown"));

        // act: the agent calls every one of them over /rpc (eight at a time)
        using var http = new HttpClient { Timeout = TestTimeouts.Process };
        var refused = 0;
        await Parallel.ForEachAsync(names, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = TestContext.Current.CancellationToken }, async (name, _) =>
        {
            var answer = await fixture.RpcInvokeAsync(http, name, new JsonObject());
            if (answer["result"]?["error"]?["type"]?.GetValue<string>() == "CapabilityNotFound") Interlocked.Increment(ref refused);
        });
        Assert.Equal(names.Count, refused);
        var samples = await fixture.ScrapeUntilAsync(s => Sum(s, "kruxos_calls_total", (Capability, "unknown")) >= unknownBefore + names.Count);

        // assert: no agent-chosen name became a label value; all thousand calls were counted under one
        var values = samples.Select(s => s[Capability]).OfType<string>().ToHashSet(StringComparer.Ordinal);
        var withMarker = values.Where(v => v.Contains(marker, StringComparison.Ordinal)).ToList();
        Assert.True(withMarker.Count == 0, $"{withMarker.Count} agent-chosen names became label values, e.g. {withMarker.FirstOrDefault()}");
        Assert.True(Sum(samples, "kruxos_calls_total", (Capability, "unknown")) >= unknownBefore + names.Count, "the thousand calls were not counted under capability=\"unknown\"");
        // whatever else appeared meanwhile is a catalogue name (other specs share the process's meter) or the one "unknown"
        var added = values.Except(before).Where(v => v != "unknown" && !catalogue.TryResolve(v, out _) && !v.StartsWith("probe.", StringComparison.Ordinal)).ToList();
        Assert.Empty(added);
        Assert.Contains("unknown", values);
    }
}
