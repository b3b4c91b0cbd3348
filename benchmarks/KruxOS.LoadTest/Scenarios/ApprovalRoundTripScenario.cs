using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>
/// <c>approval-roundtrip</c> (gateway only): N WebSocket sessions of a dedicated agent, whose policy makes
/// <c>system.time</c> <c>approval_required</c>, call it back to back (closed loop). Each call is held; a
/// decider watches the control socket for <c>approval_requested</c> and accepts each request at once with
/// <c>approval.approve</c> over the control socket — the request <c>kruxos approve accept</c> sends, so the
/// decision goes through the real path (durable decision, resolution audit entry, release, execution,
/// final audit entry). One operation is request → result at the client; the decomposition is recorded too:
/// request → pending event at the decider, the accept's own round trip, and accept returned → result at
/// the client (the "released ≤ 20 ms after <c>approve accept</c> returns").
/// </summary>
/// <remarks>
/// The gateway joins identical pending calls into one approval, so every session calls with its own time
/// zone: each call is its own approval, and the event's arguments say which session it belongs to.
/// </remarks>
public sealed class ApprovalRoundTripScenario : IScenario
{
    /// <summary>Latency names in <see cref="ScenarioResult.ExtraLatencies"/>.</summary>
    public const string RequestToPending = "request_to_pending_event";

    /// <inheritdoc cref="RequestToPending"/>
    public const string AcceptRoundTrip = "accept_round_trip";

    /// <inheritdoc cref="RequestToPending"/>
    public const string AcceptReturnedToResult = "accept_returned_to_result";

    /// <inheritdoc />
    public string Name => "approval-roundtrip";

    /// <inheritdoc />
    public string Description =>
        "closed loop: --concurrency websocket sessions call an approval_required system__time; a decider accepts each over the control socket (gateway only)";

    /// <inheritdoc />
    public bool Comparable => false;

    /// <inheritdoc />
    public bool RunsOnFloor => false;

    /// <inheritdoc />
    public int SessionsNeeded(DriverOptions options) => options.Concurrency;

    /// <summary>
    /// <paramref name="count"/> distinct time zones known to this machine (the gateway runs on it too),
    /// one per session; throws when there are fewer.
    /// </summary>
    public static IReadOnlyList<string> DistinctZones(int count)
    {
        var zones = TimeZoneInfo.GetSystemTimeZones()
            .Select(z => z.Id)
            .Where(id => id.Contains('/', StringComparison.Ordinal) && id.Length <= 64)
            .Order(StringComparer.Ordinal)
            .Take(count)
            .ToList();
        return zones.Count == count
            ? zones
            : throw new ArgumentException($"approval-roundtrip needs one time zone per session; this machine knows {zones.Count}, --concurrency is {count}");
    }

    /// <inheritdoc />
    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var o = context.Options;
        var target = context.Target;
        var socket = target.ControlSocket ?? throw new InvalidOperationException("approval-roundtrip needs the gateway's control socket");
        var zones = DistinctZones(o.Concurrency);

        // The agent is created over the control socket; its token stays in memory (never argv or logs).
        await using var admin = await ControlSocketClient.OpenAsync(socket, ct).ConfigureAwait(false);
        var created = await admin.CallAsync("agent.create",
            new JsonObject { ["name"] = TargetServer.ApprovalAgent, ["purpose"] = "approval round-trip load scenario" }, ct).ConfigureAwait(false);
        var token = created?["token"]?.GetValue<string>() ?? throw new InvalidOperationException("agent.create returned no token");

        var slots = new Slot[o.Concurrency];
        for (var i = 0; i < slots.Length; i++) slots[i] = new Slot();
        var byZone = zones.Select((z, i) => (z, i)).ToDictionary(x => x.z, x => x.i, StringComparer.Ordinal);
        var deciders = new ControlSocketClient[o.Concurrency];
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var pendingEvents = new LatencyRecorder();
        var acceptTrips = new LatencyRecorder();
        var released = new LatencyRecorder();
        long measuredFrom = long.MaxValue;
        Task? watching = null;
        await using var watch = await ControlSocketClient.OpenAsync(socket, ct).ConfigureAwait(false);
        using var factory = new SessionFactory(target, McpTransport.WebSocket, o.CallTimeout, token);
        IMcpSession[] sessions = [];
        try
        {
            for (var i = 0; i < deciders.Length; i++) deciders[i] = await ControlSocketClient.OpenAsync(socket, ct).ConfigureAwait(false);
            var events = watch.WatchAsync("approval_requested", TargetServer.ApprovalAgent, stop.Token).GetAsyncEnumerator(stop.Token);
            // The first MoveNext sends watch and reads its acknowledgement before any call is made, so no event is missed.
            var first = events.MoveNextAsync().AsTask();
            watching = DecideAsync(events, first, byZone, slots, deciders, stop.Token);
            sessions = await factory.OpenManyAsync(o.Concurrency, parallelism: 8, ct).ConfigureAwait(false);
            var templates = zones.Select(z => new McpWire.ToolCallTemplate("system__time", JsonSerializer.Serialize(new { timezone = z }))).ToArray();

            async Task<CallOutcome> CallAsync(long worker, CancellationToken c)
            {
                var slot = slots[worker];
                var decision = slot.Arm(Stopwatch.GetTimestamp());
                var outcome = await sessions[worker].CallToolAsync(templates[worker], c).ConfigureAwait(false);
                var done = Stopwatch.GetTimestamp();
                if (!outcome.IsOk)
                {
                    // A failed accept explains the failed call better than the call's own error.
                    if (decision.IsCompletedSuccessfully && decision.Result.Error is { } failed) return CallOutcome.Decision(failed);
                    return decision.IsFaulted ? CallOutcome.Decision(decision.Exception!.InnerException!.GetType().Name) : outcome;
                }
                // The entity releases the run and answers the decider at the same moment, so the result may
                // reach the client before the accept's answer reaches the decider: wait for the answer.
                Decision d;
                try
                {
                    d = await decision.WaitAsync(o.CallTimeout, c).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    return CallOutcome.Decision("no_answer");
                }
                catch (Exception e) when (e is IOException or ObjectDisposedException)
                {
                    return CallOutcome.Decision(e.GetType().Name);
                }
                if (d.Error is { } error) return CallOutcome.Decision(error);
                if (slot.Started >= Volatile.Read(ref measuredFrom))
                {
                    pendingEvents.RecordMicros(LatencyRecorder.ToMicros(d.EventSeen - slot.Started));
                    acceptTrips.RecordMicros(LatencyRecorder.ToMicros(d.AcceptReturned - d.AcceptSent));
                    // A result that arrived before the accept's answer is recorded as the histogram's 1 µs floor.
                    released.RecordMicros(LatencyRecorder.ToMicros(Math.Max(0, done - d.AcceptReturned)));
                }
                return outcome;
            }

            Volatile.Write(ref measuredFrom, Stopwatch.GetTimestamp() + (long)(o.Warmup.TotalSeconds * Stopwatch.Frequency));
            var run = await ClosedLoopRunner.RunAsync(o.Concurrency, o.Warmup, o.Duration, o.MaxRequests, CallAsync, ct).ConfigureAwait(false);
            var result = ScenarioResult.ClosedLoop(Name, target.Name, SessionFactory.Name(McpTransport.WebSocket),
                "tools/call system__time (approval_required) + approval.approve", o.Concurrency, run);
            return result with
            {
                ExtraLatencies = new SortedDictionary<string, LatencySummary>(StringComparer.Ordinal)
                {
                    [RequestToPending] = pendingEvents.Summarize(),
                    [AcceptRoundTrip] = acceptTrips.Summarize(),
                    [AcceptReturnedToResult] = released.Summarize(),
                },
            };
        }
        finally
        {
            await SessionFactory.CloseAllAsync(sessions, CancellationToken.None).ConfigureAwait(false);
            await stop.CancelAsync().ConfigureAwait(false);
            if (watching is not null)
            {
                try { await watching.ConfigureAwait(false); }
                catch (Exception e) when (e is OperationCanceledException or IOException or ControlRequestException or ObjectDisposedException) { }
            }
            foreach (var d in deciders.OfType<ControlSocketClient>()) await d.DisposeAsync().ConfigureAwait(false);
        }
    }

    // Reads approval_requested events and accepts each on the session's own control connection, without
    // waiting for one accept before starting the next (each session has at most one call pending).
    private static async Task DecideAsync(IAsyncEnumerator<JsonObject> events, Task<bool> first, IReadOnlyDictionary<string, int> byZone,
        Slot[] slots, ControlSocketClient[] deciders, CancellationToken ct)
    {
        await using var stream = events;
        var more = await first.ConfigureAwait(false);
        while (more)
        {
            var e = events.Current;
            var seen = Stopwatch.GetTimestamp();
            var data = e["data"] as JsonObject;
            var id = data?["approval_id"]?.GetValue<string>();
            var zone = (data?["arguments"] as JsonObject)?["timezone"]?.GetValue<string>();
            // The decision belongs to the call pending now; a late answer for an earlier call cannot land on a later one.
            if (id is not null && zone is not null && byZone.TryGetValue(zone, out var worker))
                _ = AcceptAsync(deciders[worker], slots[worker].Current, id, seen, ct);
            more = await events.MoveNextAsync().ConfigureAwait(false);
        }
    }

    private static async Task AcceptAsync(ControlSocketClient decider, TaskCompletionSource<Decision> slot, string approvalId, long seen, CancellationToken ct)
    {
        var sent = Stopwatch.GetTimestamp();
        try
        {
            await decider.CallAsync("approval.approve", new JsonObject { ["id"] = approvalId, ["reason"] = "load test" }, ct).ConfigureAwait(false);
            slot.TrySetResult(new Decision(seen, sent, Stopwatch.GetTimestamp(), null));
        }
        catch (ControlRequestException e)
        {
            slot.TrySetResult(new Decision(seen, sent, Stopwatch.GetTimestamp(), e.Type));
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
        {
            slot.TrySetException(e);
        }
    }

    /// <summary>When the decider saw the event, sent the accept and got its answer; <c>Error</c> is the gateway's error type.</summary>
    private readonly record struct Decision(long EventSeen, long AcceptSent, long AcceptReturned, string? Error);

    /// <summary>One session's current call and the decision taken on it.</summary>
    private sealed class Slot
    {
        private TaskCompletionSource<Decision> _current = NewSource();

        public long Started { get; private set; }

        /// <summary>The decision source of the call pending now.</summary>
        public TaskCompletionSource<Decision> Current => Volatile.Read(ref _current);

        /// <summary>Starts a new call: a fresh decision source, returned as a task.</summary>
        public Task<Decision> Arm(long started)
        {
            Started = started;
            var source = NewSource();
            Volatile.Write(ref _current, source);
            return source.Task;
        }

        private static TaskCompletionSource<Decision> NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
