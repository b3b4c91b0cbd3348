using KruxOS.Testing;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Cli;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using Microsoft.Data.Sqlite;
using Xunit;

namespace KruxOS.Gateway.Tests.EndToEnd;

/// <summary>
/// A real gateway process is SIGKILLed at random points while approval requests (<c>/rpc</c>, answered with
/// -32002 once the request is durable) and decisions (control socket) run concurrently, then restarted on the
/// same data directory. Whatever was acknowledged before a kill must survive it, exactly once, and no decided
/// approval may return to pending.
/// </summary>
public sealed class ApprovalCrashSpecs(ITestOutputHelper output)
{
    /// <summary>Kill/restart cycles (about 6–10 s each on a loaded 2-core machine).</summary>
    public const int Runs = 5;


    // A small argument space, so identical calls (joins, grants, re-requests after a rejection) are frequent.
    private static readonly string[] Zones =
    [
        "UTC", "Europe/Berlin", "Europe/Paris", "Europe/London", "Asia/Tokyo", "Asia/Kolkata", "America/New_York",
        "America/Chicago", "America/Denver", "Australia/Sydney", "Africa/Cairo", "America/Sao_Paulo",
    ];

    [Fact]
    public async Task Should_keep_every_acknowledged_request_and_decision_exactly_once_across_SIGKILLs()
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-approval-crash-").FullName;
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "agents", "bot.yaml"), TestPolicies.HoldSystemTime);
        var requested = new ConcurrentDictionary<string, string>();   // acknowledged request id → zone
        var decided = new ConcurrentDictionary<string, bool>();       // acknowledged decision: id → approved
        var random = new Random(Environment.TickCount);
        string? token = null;
        try
        {
            for (var run = 1; run <= Runs; run++)
            {
                await using var gateway = await GatewayOsProcess.StartAsync(dataDir);
                var control = new ControlClient(gateway.ControlSocket);
                token ??= (await Ok(control, ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = "bot", ["purpose"] = "crash spec" }))["token"]!.GetValue<string>();

                // what earlier lives acknowledged is all still there, once
                await AssertInvariantsAsync(control, requested, decided);

                using var stop = new CancellationTokenSource();
                using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
                http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
                var load = new List<Task>
                {
                    RequestLoopAsync(http, gateway.GatewayPort, requested, new Random(random.Next()), stop.Token),
                    RequestLoopAsync(http, gateway.GatewayPort, requested, new Random(random.Next()), stop.Token),
                    DecideLoopAsync(control, decided, new Random(random.Next()), stop.Token),
                };
                // kill at a random point while the loops are busy
                await Task.Delay(random.Next(300, 2000));
                gateway.KillHard(processTree: true);
                await stop.CancelAsync();
                await Task.WhenAll(load);
                output.WriteLine($"run {run}: killed; {requested.Count} requests and {decided.Count} decisions acknowledged so far");
            }

            await using (var final = await GatewayOsProcess.StartAsync(dataDir))
            {
                var (all, pending) = await AssertInvariantsAsync(new ControlClient(final.ControlSocket), requested, decided);
                output.WriteLine($"{Runs} runs; {all} approvals on record ({pending} pending); {requested.Count} requests and {decided.Count} decisions acknowledged");
                Assert.NotEmpty(requested);
                Assert.NotEmpty(decided);
            }
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task<(int All, int Pending)> AssertInvariantsAsync(ControlClient control, ConcurrentDictionary<string, string> requested,
        ConcurrentDictionary<string, bool> decided)
    {
        var all = (await Ok(control, ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "all" }))["approvals"]!.AsArray()
            .Select(a => a!.AsObject()).ToList();
        var byId = all.GroupBy(a => a["id"]!.GetValue<string>()).ToDictionary(g => g.Key, g => g.ToList());
        Assert.All(byId, g => Assert.Single(g.Value));

        foreach (var (id, zone) in requested)
        {
            Assert.True(byId.TryGetValue(id, out var found), $"acknowledged request {id} is missing after a kill");
            Assert.Equal(zone, found![0]["arguments"]!["timezone"]!.GetValue<string>());
        }
        foreach (var (id, approved) in decided)
        {
            var status = byId[id][0]["status"]!.GetValue<string>();
            Assert.NotEqual("pending", status);
            if (approved) Assert.Contains(status, new[] { "approved", "consumed", "expired" });
            else Assert.Equal("rejected", status);
        }

        // no identical call (agent, capability, arguments hash) has two pending requests
        var pending = all.Where(a => a["status"]!.GetValue<string>() == "pending").ToList();
        var keys = new List<string>();
        foreach (var p in pending)
        {
            var details = await Ok(control, ControlProtocol.Methods.ApprovalShow, new JsonObject { ["id"] = p["id"]!.GetValue<string>() });
            keys.Add($"{details["agent"]}|{details["capability"]}|{details["arguments_hash"]!.GetValue<string>()}");
        }
        Assert.True(keys.Count == keys.Distinct().Count(),
            $"duplicate pending requests for an identical call: {string.Join(", ", keys.GroupBy(k => k).Where(g => g.Count() > 1).Select(g => $"{g.Key} ×{g.Count()}"))}");
        return (all.Count, pending.Count);
    }

    private static async Task RequestLoopAsync(HttpClient http, int port, ConcurrentDictionary<string, string> requested, Random random, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var zone = Zones[random.Next(Zones.Length)];
            var body = new JsonObject
            {
                ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "capabilities.invoke",
                ["params"] = new JsonObject { ["capability"] = "system.time", ["arguments"] = new JsonObject { ["timezone"] = zone } },
            }.ToJsonString();
            try
            {
                using var response = await http.PostAsync($"http://127.0.0.1:{port}/rpc", new StringContent(body, Encoding.UTF8, "application/json"), CancellationToken.None);
                var json = JsonNode.Parse(await response.Content.ReadAsStringAsync(CancellationToken.None));
                if (json?["error"]?["code"]?.GetValue<int>() == -32002)
                    requested[json["error"]!["data"]!["request_id"]!.GetValue<string>()] = zone;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or System.Text.Json.JsonException)
            {
                // the process was killed mid-request: nothing was acknowledged
                await Task.Delay(20, CancellationToken.None);
            }
        }
    }

    private static async Task DecideLoopAsync(ControlClient control, ConcurrentDictionary<string, bool> decided, Random random, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var list = await control.CallAsync(ControlProtocol.Methods.ApprovalList, null, CancellationToken.None);
                var pending = list.Ok ? list.Result!["approvals"]!.AsArray() : [];
                if (pending.Count == 0)
                {
                    await Task.Delay(30, CancellationToken.None);
                    continue;
                }
                var id = pending[random.Next(pending.Count)]!["id"]!.GetValue<string>();
                var approve = random.Next(3) > 0;
                var r = await control.CallAsync(approve ? ControlProtocol.Methods.ApprovalApprove : ControlProtocol.Methods.ApprovalReject,
                    new JsonObject { ["id"] = id, ["reason"] = approve ? "ok" : "no" }, CancellationToken.None);
                if (r.Ok) decided[id] = approve;
                // slower than the requesters, so pending requests pile up and identical calls join them
                await Task.Delay(random.Next(50, 250), CancellationToken.None);
            }
            catch (Exception e) when (e is GatewayUnreachableException or IOException or System.Net.Sockets.SocketException or System.Text.Json.JsonException)
            {
                await Task.Delay(20, CancellationToken.None);
            }
        }
    }

    private static async Task<JsonNode> Ok(ControlClient control, string method, JsonObject parameters)
    {
        var r = await control.CallAsync(method, parameters, CancellationToken.None);
        Assert.True(r.Ok, $"{method}: {r.ErrorType} {r.ErrorMessage}");
        return r.Result!;
    }
}
