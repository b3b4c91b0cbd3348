using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Policy;
using KruxOS.Cli;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Control;
using KruxOS.Core.Sessions;
using KruxOS.Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KruxOS.ApprovalLatency;

/// <summary>
/// Listing a large approval queue on a real gateway hosted in this process (SQLite journal, audit writer
/// with fsync): 10,000 pending approvals are created through the approval region; then
/// <c>approval.list</c> over the control socket, and the real CLI <c>kruxos approve list</c> (process
/// start included), are timed. The approval round trip under load (request → accept → result) is the
/// load driver's <c>approval-roundtrip</c> scenario, not measured here.
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var pendingTarget = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 10_000;
        var dataDir = Directory.CreateTempSubdirectory("kruxos-approval-bench-").FullName;
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "agents", "bench.yaml"),
            "rules:\n  - capability: system.time\n    tier: approval_required\n    reason: measured\n");
        var socket = Path.Combine(dataDir, "run", "control.sock");
        var port = FreePort();
        var app = GatewayApp.Build(
        [
            "--data-dir", dataDir, "--gateway-port", $"{port}", "--health-port", $"{FreePort()}", "--user-api-port", $"{FreePort()}", "--dashboard-port", "0",
            "--control-socket", socket, "--Gateway:PrintBootstrapToken", "false",
        ], b => b.Logging.ClearProviders());
        try
        {
            await app.StartAsync();
            await app.Services.GetRequiredService<PolicyStore>().Loaded.WaitAsync(TimeSpan.FromSeconds(60));
            var index = app.Services.GetRequiredService<ApprovalIndex>();
            await index.Ready.WaitAsync(TimeSpan.FromSeconds(60));
            while (!File.Exists(socket)) await Task.Delay(50);
            var control = new ControlClient(socket);
            await Ok(control, ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = "bench", ["purpose"] = "benchmark" });
            await MeasureListAsync(app, control, index, socket, pendingTarget);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
        return 0;
    }

    private static async Task MeasureListAsync(WebApplication app, ControlClient control, ApprovalIndex index, string socket, int target)
    {
        var registry = app.Services.GetRequiredService<ActorRegistry>();
        var region = await registry.GetAsync<ApprovalRegion>();
        var agent = AgentName.Parse("bench");
        var sw = Stopwatch.StartNew();
        using var gate = new SemaphoreSlim(64);
        var tasks = Enumerable.Range(0, target).Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                var args = JsonSerializer.SerializeToElement(new { timezone = "UTC", n = i });
                var now = DateTimeOffset.UtcNow;
                var request = new ApprovalRequest(ApprovalId.New(), Principal.ForAgent(agent), agent, "bench", "system.time",
                    ApprovalArguments.Redact(args), ApprovalArguments.Hash(args), "agents/bench.yaml:2", "bench", "measured",
                    new ClientInfo("bench", "1"), now, now + TimeSpan.FromDays(1));
                var r = await region.Ask<ApprovalResult>(new ApprovalCommands.RequestApproval(request), TimeSpan.FromSeconds(120));
                if (!r.IsOk) throw new InvalidOperationException(r.Message);
            }
            finally
            {
                gate.Release();
            }
        });
        await Task.WhenAll(tasks);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"created {target} pending approvals in {sw.Elapsed.TotalSeconds:F1} s ({target / sw.Elapsed.TotalSeconds:F0}/s, 64 in flight)"));
        while (index.PendingCount < target) await Task.Delay(10);

        var socketTimes = new List<double>();
        var bytes = 0;
        for (var i = 0; i < 6; i++)
        {
            sw.Restart();
            var r = await control.CallAsync(ControlProtocol.Methods.ApprovalList, null, CancellationToken.None);
            var ms = sw.Elapsed.TotalMilliseconds;
            var n = r.Result!["approvals"]!.AsArray().Count;
            if (n != target) throw new InvalidOperationException($"listed {n}, expected {target}");
            bytes = r.Result.ToJsonString().Length;
            if (i > 0) socketTimes.Add(ms);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"approval.list over the control socket, {target} pending ({bytes / 1024} KiB of JSON): {Stats(socketTimes)}"));

        var cli = Path.Combine(AppContext.BaseDirectory, "kruxos.dll");
        foreach (var (label, cliArgs) in new[] { ("kruxos status (CLI start-up baseline)", new[] { "status" }), ("kruxos approve list --json", new[] { "approve", "list", "--json" }), ("kruxos approve list (table)", new[] { "approve", "list" }) })
        {
            var times = new List<double>();
            for (var i = 0; i < 3; i++)
            {
                var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add(cli);
                foreach (var a in cliArgs) psi.ArgumentList.Add(a);
                psi.Environment["KRUXOS_CONTROL_SOCKET"] = socket;
                sw.Restart();
                using var p = Process.Start(psi)!;
                var stdout = p.StandardOutput.ReadToEndAsync();
                var stderr = p.StandardError.ReadToEndAsync();
                await p.WaitForExitAsync();
                times.Add(sw.Elapsed.TotalMilliseconds);
                await stdout;
                if (p.ExitCode != 0) throw new InvalidOperationException($"{label} failed: {await stderr}");
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{label}: {Stats(times)}"));
        }
    }

    private static string Stats(List<double> ms)
    {
        var sorted = ms.Order().ToList();
        double At(double q) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
        return string.Create(CultureInfo.InvariantCulture,
            $"median {At(0.5):F1} ms, p90 {At(0.9):F1} ms, min {sorted[0]:F1} ms, max {sorted[^1]:F1} ms");
    }

    private static async Task<JsonNode> Ok(ControlClient control, string method, JsonObject parameters)
    {
        var r = await control.CallAsync(method, parameters, CancellationToken.None);
        if (!r.Ok) throw new InvalidOperationException($"{method}: {r.ErrorType} {r.ErrorMessage}");
        return r.Result!;
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
