using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KruxOS.AuditThroughput;

/// <summary>
/// Closed-loop calls of <c>system.time</c> through a real node (<c>AddKruxOsActors</c>): N callers spread
/// over several agents and sessions, each waiting for its reply before the next call. Run once with the
/// audit writer (durable group commit before every reply) and once with auditing off (an actor that
/// acknowledges every entry at once, installed with <see cref="AuditSinkOverride"/>).
/// </summary>
public static class PipelineBenchmark
{
    /// <summary>args after "pipeline": [directory] [callers=32] [seconds=5]</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        var root = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "kruxos-pipeline-throughput");
        var callers = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 32;
        var seconds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
        try
        {
            var off = await Measure("auditing off", Path.Combine(root, "off"), audited: false, callers, seconds);
            var on = await Measure("audited (durable group commit)", Path.Combine(root, "on"), audited: true, callers, seconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"audited / auditing off = {on / off:P1}"));
            Console.WriteLine($"chain: {AuditVerifier.VerifyDirectory(Path.Combine(root, "on", "audit")).Summary}");
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
        return 0;
    }

    private static async Task<double> Measure(string label, string dataDir, bool audited, int callers, int seconds)
    {
        if (Directory.Exists(dataDir)) Directory.Delete(dataDir, recursive: true);
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        if (!audited) builder.Services.AddSingleton(new AuditSinkOverride(Props.Create(() => new AckAll())));
        builder.Services.AddKruxOsActors(new KruxOsSettings { DataDir = dataDir, MetricsInterval = TimeSpan.FromMinutes(5) });
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            var agents = Enumerable.Range(0, 8).Select(i => AgentName.Parse($"bench{i}")).ToArray();
            var identity = await host.Services.GetRequiredService<ActorRegistry>().GetAsync<IdentityRegistry>();
            foreach (var a in agents)
                await identity.Ask<IdentityResult>(new IdentityCommands.CreateAgent(a.Value, "benchmark", TokenHashing.Hash(TokenHashing.NewAgentToken()), DateTimeOffset.UtcNow), TimeSpan.FromSeconds(30));
            var directory = host.Services.GetRequiredService<IdentityDirectory>();
            while (!agents.All(a => directory.Current.Agents.ContainsKey(a.Value))) await Task.Delay(50);
            var region = await host.Services.GetRequiredService<ActorRegistry>().GetAsync<AgentSessionRegion>();

            await Run(DateTime.UtcNow.AddSeconds(1)); // warm-up
            // Allocated bytes and CPU per call (the callers' Ask included): unlike calls per second, these hardly
            // depend on what else the machine is doing.
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var cpuBefore = Environment.CpuUsage.TotalTime;
            var gcBefore = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
            var sw = Stopwatch.StartNew();
            var counts = await Run(DateTime.UtcNow.AddSeconds(seconds));
            sw.Stop();
            var calls = counts.Sum();
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            var cpu = Environment.CpuUsage.TotalTime - cpuBefore;
            var rate = calls / sw.Elapsed.TotalSeconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{label,-32} {callers} callers: {calls,8} calls in {sw.Elapsed.TotalSeconds:F1} s = {rate,8:F0} calls/s; " +
                $"{(double)allocated / calls / 1024,6:F1} KiB allocated and {cpu.TotalMicroseconds / calls,6:F0} µs CPU per call; " +
                $"GCs gen0/1/2 {GC.CollectionCount(0) - gcBefore.Item1}/{GC.CollectionCount(1) - gcBefore.Item2}/{GC.CollectionCount(2) - gcBefore.Item3}"));
            return rate;

            Task<long[]> Run(DateTime until) => Task.WhenAll(Enumerable.Range(0, callers).Select(c => Task.Run(async () =>
            {
                var agent = agents[c % agents.Length];
                var call = new ToolCall(Principal.ForAgent(agent), agent, $"sess-{c}", "system.time",
                    JsonDocument.Parse("{}").RootElement.Clone(), new ClientInfo("bench", "1"));
                long n = 0;
                while (DateTime.UtcNow < until)
                {
                    var r = await region.Ask<ToolCallResult>(new Func<IActorRef, object>(reply => new AgentSessionCommands.Invoke(agent, call, reply)),
                        TimeSpan.FromSeconds(30), CancellationToken.None);
                    if (r.IsError) throw new InvalidOperationException(r.Error!.Message);
                    n++;
                }
                return n;
            })));
        }
        finally
        {
            await host.StopAsync();
        }
    }

    private sealed class AckAll : ReceiveActor
    {
        public AckAll() => Receive<AuditCommands.Append>(m => m.ReplyTo.Tell(new AuditReplies.AuditAppended(m.Draft.Id, "")));
    }
}
