using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;

namespace KruxOS.AuditThroughput;

/// <summary>
/// Measures the audit writer with N concurrent appenders, each waiting for its reply before sending the
/// next entry (like a call that cannot return before its audit entry is durable):
/// auditing off (an echo actor), group commit, and one fsync per entry (MaxBatch = 1).
/// </summary>
public static class Program
{
    /// <summary>args: [directory] [appenders=16] [seconds=5], or <c>pipeline</c> … for <see cref="PipelineBenchmark"/>.</summary>
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "pipeline") return await PipelineBenchmark.RunAsync(args[1..]);
        var root = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "kruxos-audit-throughput");
        var appenders = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 16;
        var seconds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 5;
        using var system = ActorSystem.Create("throughput", "akka.loglevel = WARNING");
        try
        {
            var echo = system.ActorOf(Props.Create(() => new EchoActor()), "echo");
            var off = await Measure("auditing off (echo actor)", echo, appenders, seconds);
            var grouped = await MeasureWriter(system, Path.Combine(root, "group"), appenders, seconds, maxBatch: 512);
            var single = await MeasureWriter(system, Path.Combine(root, "single"), appenders, seconds, maxBatch: 1);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"group commit / auditing off = {grouped / off:P1}; group commit / fsync per entry = {grouped / single:F1}x"));
            foreach (var d in new[] { "group", "single" })
                Console.WriteLine($"{d}: {AuditVerifier.VerifyDirectory(Path.Combine(root, d)).Summary}");
        }
        finally
        {
            await system.Terminate();
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
        return 0;
    }

    private static async Task<double> MeasureWriter(ActorSystem system, string dir, int appenders, int seconds, int maxBatch)
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        var writer = system.ActorOf(AuditWriterActor.Props(new AuditOptions { Directory = dir, MaxBatch = maxBatch }), $"audit-{maxBatch}");
        var rate = await Measure($"audit writer, MaxBatch={maxBatch}", writer, appenders, seconds);
        await writer.GracefulStop(TimeSpan.FromSeconds(30));
        return rate;
    }

    private static async Task<double> Measure(string label, IActorRef target, int appenders, int seconds)
    {
        var inputs = JsonDocument.Parse("""{"path":"/workspace/src/main.cs","limit":4096}""").RootElement;
        var warmupEnd = DateTime.UtcNow.AddSeconds(1);
        await Run(warmupEnd);
        var sw = Stopwatch.StartNew();
        var end = DateTime.UtcNow.AddSeconds(seconds);
        var counts = await Run(end);
        sw.Stop();
        var rate = counts.Sum() / sw.Elapsed.TotalSeconds;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{label,-36} {appenders} appenders: {counts.Sum(),8} entries in {sw.Elapsed.TotalSeconds:F1} s = {rate,9:F0} entries/s"));
        return rate;

        Task<long[]> Run(DateTime until) => Task.WhenAll(Enumerable.Range(0, appenders).Select(a => Task.Run(async () =>
        {
            long n = 0;
            while (DateTime.UtcNow < until)
            {
                var draft = AuditEntry.Call(DateTimeOffset.UtcNow, new Principal(PrincipalKind.Agent, $"agent{a}"), $"s-{a}",
                    CapabilityName.Parse("filesystem.read"), inputs, AuditStatus.Success, "read 4096 bytes",
                    new AuditPolicyDecision(Tier.Autonomous, "agent.default", 1), 3);
                var reply = await target.Ask<object>((IActorRef r) => new AuditCommands.Append(draft, r), TimeSpan.FromSeconds(30), CancellationToken.None);
                if (reply is not AuditReplies.AuditAppended and not EchoActor.Echoed) throw new InvalidOperationException($"unexpected {reply}");
                n++;
            }
            return n;
        })));
    }

    private sealed class EchoActor : ReceiveActor
    {
        public sealed record Echoed(Guid Id);

        public EchoActor() => Receive<AuditCommands.Append>(m => m.ReplyTo.Tell(new Echoed(m.Draft.Id)));
    }
}
