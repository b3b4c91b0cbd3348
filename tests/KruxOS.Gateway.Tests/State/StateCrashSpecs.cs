using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Cli;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.State;

/// <summary>
/// A real gateway process is SIGKILLed while agents write persistent and shared state over <c>/rpc</c>, then restarted
/// on the same data directory: every write the gateway acknowledged is still there, at its version.
/// </summary>
public sealed class StateCrashSpecs
{
    /// <summary>Kill/restart cycles.</summary>
    public const int Runs = 3;

    private static readonly string[] Keys = ["k0", "k1", "k2"];

    [Fact]
    public async Task Should_keep_every_acknowledged_persistent_and_shared_write_across_SIGKILLs()
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-state-crash-").FullName;
        var persistent = new ConcurrentDictionary<(string Key, long Version), string>();
        var shared = new ConcurrentDictionary<(string Key, long Version), string>();
        var random = new Random(Environment.TickCount);
        string? token = null;
        try
        {
            for (var run = 1; run <= Runs + 1; run++)
            {
                await using var gateway = await GatewayOsProcess.StartAsync(dataDir);
                var control = new ControlClient(gateway.ControlSocket);
                if (token is null)
                {
                    var created = await control.CallAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = "scribe", ["purpose"] = "crash spec" },
                        CancellationToken.None);
                    Assert.True(created.Ok, created.ErrorMessage);
                    token = created.Result!["token"]!.GetValue<string>();
                }
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(20) };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);

                // what earlier lives acknowledged is all still there
                await AssertAcknowledgedAsync(http, gateway.GatewayPort, persistent, shared);
                if (run > Runs) break;

                using var stop = new CancellationTokenSource();
                var load = new[]
                {
                    PersistentLoopAsync(http, gateway.GatewayPort, persistent, new Random(random.Next()), stop.Token),
                    SharedLoopAsync(http, gateway.GatewayPort, shared, new Random(random.Next()), stop.Token),
                };
                await Task.Delay(TimeSpan.FromMilliseconds(1500 + random.Next(2500)), TestContext.Current.CancellationToken);
                gateway.KillHard(processTree: true);
                await stop.CancelAsync();
                await Task.WhenAll(load).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            }
            Assert.True(persistent.Count > 0 && shared.Count > 0, $"nothing was acknowledged: {persistent.Count} persistent, {shared.Count} shared");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    private static async Task AssertAcknowledgedAsync(HttpClient http, int port, ConcurrentDictionary<(string Key, long Version), string> persistent,
        ConcurrentDictionary<(string Key, long Version), string> shared)
    {
        foreach (var group in persistent.GroupBy(p => p.Key.Key))
        {
            var newest = group.MaxBy(p => p.Key.Version);
            var latest = await CallAsync(http, port, "state.persistent.get", new JsonObject { ["key"] = group.Key });
            Assert.True(latest?["version"]?.GetValue<long>() >= newest.Key.Version, $"persistent {group.Key}: acknowledged v{newest.Key.Version}, now {latest?.ToJsonString()}");
            var exact = await CallAsync(http, port, "state.persistent.get", new JsonObject { ["key"] = group.Key, ["version"] = newest.Key.Version });
            Assert.Equal(newest.Value, exact?["value"]?.ToJsonString());
        }
        foreach (var group in shared.GroupBy(p => p.Key.Key))
        {
            var newest = group.MaxBy(p => p.Key.Version);
            var now = await CallAsync(http, port, "state.shared.get", new JsonObject { ["key"] = group.Key });
            var version = now?["version"]?.GetValue<long>() ?? 0;
            Assert.True(version >= newest.Key.Version, $"shared {group.Key}: acknowledged v{newest.Key.Version}, now {now?.ToJsonString()}");
            if (version == newest.Key.Version) Assert.Equal(newest.Value, now!["value"]!.ToJsonString());
        }
    }

    private static async Task PersistentLoopAsync(HttpClient http, int port, ConcurrentDictionary<(string Key, long Version), string> acked, Random random,
        CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var key = Keys[random.Next(Keys.Length)];
            var value = new JsonObject { ["n"] = random.Next() };
            var result = await TryCallAsync(http, port, "state.persistent.set", new JsonObject { ["key"] = key, ["value"] = value.DeepClone() });
            if (result?["version"] is { } v) acked[(key, v.GetValue<long>())] = value.ToJsonString();
        }
    }

    private static async Task SharedLoopAsync(HttpClient http, int port, ConcurrentDictionary<(string Key, long Version), string> acked, Random random,
        CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var key = "shared-" + Keys[random.Next(Keys.Length)];
            var current = await TryCallAsync(http, port, "state.shared.get", new JsonObject { ["key"] = key });
            if (current is null) continue;
            var value = new JsonObject { ["n"] = random.Next() };
            var result = await TryCallAsync(http, port, "state.shared.set",
                new JsonObject { ["key"] = key, ["value"] = value.DeepClone(), ["expected_version"] = current["version"]!.GetValue<long>() });
            if (result?["version"] is { } v) acked[(key, v.GetValue<long>())] = value.ToJsonString();
        }
    }

    // Null when the call failed or the process died mid-request (nothing acknowledged).
    private static async Task<JsonNode?> TryCallAsync(HttpClient http, int port, string capability, JsonObject arguments)
    {
        try
        {
            return await CallAsync(http, port, capability, arguments);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or System.Text.Json.JsonException)
        {
            await Task.Delay(20, CancellationToken.None);
            return null;
        }
    }

    private static async Task<JsonNode?> CallAsync(HttpClient http, int port, string capability, JsonObject arguments)
    {
        var body = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
            ["params"] = new JsonObject { ["capability"] = capability, ["arguments"] = arguments },
        }.ToJsonString();
        using var response = await http.PostAsync($"http://127.0.0.1:{port}/rpc", new StringContent(body, Encoding.UTF8, "application/json"), CancellationToken.None);
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(CancellationToken.None));
        return json?["result"]?["success"]?.GetValue<bool>() == true ? json["result"]!["data"] : null;
    }
}
