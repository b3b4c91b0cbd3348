using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;

namespace KruxOS.Actors.Health;

/// <summary>
/// The node's recent host samples, written by <see cref="HostMetricsActor"/> and read by capabilities
/// and health checks. Holds up to 24 hours of samples.
/// </summary>
public sealed class HostMetrics
{
    private volatile ImmutableList<HostSample> _samples = [];

    /// <summary>The samples, oldest first.</summary>
    public IReadOnlyList<HostSample> Samples => _samples;

    /// <summary>The newest sample, if any.</summary>
    public HostSample? Latest => _samples.IsEmpty ? null : _samples[^1];

    internal void Add(HostSample sample, TimeSpan keep)
    {
        var list = _samples.Add(sample);
        var cutoff = sample.At - keep;
        var drop = 0;
        while (drop < list.Count && list[drop].At < cutoff) drop++;
        _samples = drop == 0 ? list : list.RemoveRange(0, drop);
    }
}

/// <summary>Samples <c>/proc</c> on a timer, off the actor thread, into <see cref="HostMetrics"/>.</summary>
public sealed class HostMetricsActor : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan Keep = TimeSpan.FromHours(24);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HostMetrics _metrics;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _interval;
    private bool _sampling;
    private bool _warned;

    public HostMetricsActor(HostMetrics metrics, TimeProvider clock, TimeSpan interval)
    {
        _metrics = metrics;
        _clock = clock;
        _interval = interval;
        Receive<Tick>(_ =>
        {
            if (_sampling) return;
            _sampling = true;
            var at = _clock.GetUtcNow();
            Task.Run(() => ProcStats.Read(at)).PipeTo(Self, success: s => new Sampled(s), failure: e => new SampleFailed(e));
        });
        Receive<Sampled>(m =>
        {
            _sampling = false;
            _metrics.Add(m.Sample, Keep);
        });
        Receive<SampleFailed>(m =>
        {
            _sampling = false;
            if (!_warned) _log.Warning(m.Cause, "Host metrics could not be read; system.metrics will report no samples");
            _warned = true;
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(HostMetrics metrics, TimeProvider clock, TimeSpan interval) =>
        Akka.Actor.Props.Create(() => new HostMetricsActor(metrics, clock, interval));

    /// <inheritdoc />
    protected override void PreStart()
    {
        Self.Tell(Tick.Instance);
        Timers.StartPeriodicTimer("sample", Tick.Instance, _interval);
    }

    private sealed class Tick : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Tick Instance = new();
        private Tick() { }
    }

    private sealed record Sampled(HostSample Sample);

    private sealed record SampleFailed(Exception Cause);
}
