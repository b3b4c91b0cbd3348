using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using KruxOS.Actors.Policy;
using KruxOS.Actors.State;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateQueries;
using PersistentReplies = KruxOS.Core.State.Persistent.PersistentStateReplies;

namespace KruxOS.StateRecovery;

/// <summary>
/// Recovery time of an agent's persistent state (issue 18): a real gateway hosted in this process (SQLite journal, default
/// snapshot cadence) stores about <c>megabytes</c> MB for one agent (1 MB values, one key each) and one small key for a
/// second agent; the gateway stops and a new one starts on the same data directory. Timed: the first read of each agent,
/// which recovers its entity (latest snapshot, then the events after it). The small agent is read first (it also pays
/// the shard region's start) and is the same-run floor.
/// </summary>
public static class Program
{
    private const int ValueBytes = 1_000_000;

    public static async Task<int> Main(string[] args)
    {
        var megabytes = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 100;
        var keys = Math.Max(1, (int)((long)megabytes * 1_000_000 / ValueBytes) - 1);
        var dataDir = Directory.CreateTempSubdirectory("kruxos-state-recovery-").FullName;
        var big = AgentName.Parse("bench-big");
        var small = AgentName.Parse("bench-small");
        try
        {
            var written = Stopwatch.StartNew();
            await using (var first = await StartAsync(dataDir))
            {
                var state = first.Services.GetRequiredService<StateAccess>();
                var value = StoredJson.Parse("\"" + new string('x', ValueBytes - 2) + "\"");
                for (var i = 0; i < keys; i++) Expect<PersistentReplies.SetResult>(await state.PersistentAsync(new SetValue(big, $"k{i:D4}", value), default));
                Expect<PersistentReplies.SetResult>(await state.PersistentAsync(new SetValue(small, "k", StoredJson.Parse("1")), default));
                await first.StopAsync();
            }
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Console.WriteLine($"stored {keys} x {ValueBytes:N0} B = {keys * (long)ValueBytes / 1_000_000.0:0.0} MB for {big} in {written.Elapsed.TotalSeconds:0.0} s; " +
                $"journal {JournalBytes(dataDir) / 1_000_000.0:0.0} MB on disk");

            await using var second = await StartAsync(dataDir);
            var recovered = second.Services.GetRequiredService<StateAccess>();
            var floor = Stopwatch.StartNew();
            Expect<PersistentReplies.GetResult>(await recovered.PersistentAsync(new GetValue(small, "k"), default));
            var floorMs = floor.Elapsed.TotalMilliseconds;
            var sw = Stopwatch.StartNew();
            var last = Expect<PersistentReplies.GetResult>(await recovered.PersistentAsync(new GetValue(big, $"k{keys - 1:D4}"), default));
            var recoveryMs = sw.Elapsed.TotalMilliseconds;
            if (last.Value.ByteCount != ValueBytes) throw new InvalidOperationException($"recovered a {last.Value.ByteCount} B value, expected {ValueBytes}");
            Console.WriteLine($"first read after restart: one-key agent (floor, incl. region start) {floorMs:0} ms; " +
                $"{keys * (long)ValueBytes / 1_000_000.0:0.0} MB agent {recoveryMs:0} ms");
            await second.StopAsync();
            return 0;
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static async Task<WebApplication> StartAsync(string dataDir)
    {
        var app = GatewayApp.Build(
        [
            "--data-dir", dataDir, "--gateway-port", $"{FreePort()}", "--health-port", $"{FreePort()}", "--user-api-port", $"{FreePort()}",
            "--dashboard-port", "0", "--control-socket", Path.Combine(dataDir, "run", "control.sock"),
            "--auth-socket", Path.Combine(dataDir, "run", "auth.sock"), "--Gateway:PrintBootstrapToken", "false",
        ], b => b.Logging.ClearProviders());
        await app.StartAsync();
        await app.Services.GetRequiredService<PolicyStore>().Loaded.WaitAsync(TimeSpan.FromSeconds(60));
        return app;
    }

    private static T Expect<T>(IStateReply reply) where T : class =>
        reply as T ?? throw new InvalidOperationException($"expected {typeof(T).Name}, got {reply}");

    private static long JournalBytes(string dataDir) =>
        Directory.EnumerateFiles(dataDir, "*.db*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
