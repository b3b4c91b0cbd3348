namespace KruxOS.LoadTest.Load;

/// <summary>One scheduled arrival that was admitted.</summary>
/// <param name="Index">Arrival number, from 0.</param>
/// <param name="ScheduledAt">When it was due, measured from the start of the schedule.</param>
/// <param name="Late">Admitted more than the late threshold after it was due.</param>
public readonly record struct Arrival(long Index, TimeSpan ScheduledAt, bool Late);

/// <summary>
/// The accounting of an open-loop (fixed arrival rate) load, with no clock of its own so it can be
/// tested: arrival <c>n</c> is due at <c>n / rate</c> seconds. The scheduler asks for due arrivals
/// with the current elapsed time; each one is admitted (and counted late if it is admitted more than
/// the threshold after its due time) unless the in-flight bound is reached, in which case it is
/// dropped and counted. Arrivals are never sent in a burst to catch up beyond the bound, so an
/// overloaded server shows up as drops and queueing latency, not as a silently lower rate.
/// </summary>
public sealed class OpenLoopSchedule
{
    private readonly double _ratePerSecond;
    private readonly int _maxOutstanding;
    private readonly TimeSpan _lateThreshold;
    private long _next;
    private long _issued;
    private long _dropped;
    private long _late;
    private long _outstanding;

    /// <summary>Creates a schedule of <paramref name="ratePerSecond"/> arrivals per second.</summary>
    public OpenLoopSchedule(double ratePerSecond, int maxOutstanding, TimeSpan lateThreshold)
    {
        if (!(ratePerSecond > 0) || double.IsInfinity(ratePerSecond)) throw new ArgumentOutOfRangeException(nameof(ratePerSecond), "rate must be positive");
        if (maxOutstanding < 1) throw new ArgumentOutOfRangeException(nameof(maxOutstanding), "at least one request must be allowed in flight");
        _ratePerSecond = ratePerSecond;
        _maxOutstanding = maxOutstanding;
        _lateThreshold = lateThreshold;
    }

    /// <summary>Arrivals admitted so far.</summary>
    public long Issued => Interlocked.Read(ref _issued);

    /// <summary>Arrivals dropped because <c>maxOutstanding</c> requests were already in flight.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Admitted arrivals that were later than the threshold.</summary>
    public long Late => Interlocked.Read(ref _late);

    /// <summary>Admitted arrivals not yet completed.</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    /// <summary>Arrivals that have come due (admitted + dropped).</summary>
    public long Scheduled => _next;

    /// <summary>The due time of arrival <paramref name="index"/>.</summary>
    public TimeSpan DueTime(long index) => TimeSpan.FromSeconds(index / _ratePerSecond);

    /// <summary>
    /// Returns the next arrival due at or before <paramref name="elapsed"/> that fits under the in-flight
    /// bound, dropping due arrivals that do not fit; false when nothing more is due yet. Call from one
    /// thread (the scheduler); <see cref="Complete"/> may be called from any thread.
    /// </summary>
    public bool TryNext(TimeSpan elapsed, out Arrival arrival)
    {
        while (true)
        {
            var due = DueTime(_next);
            if (due > elapsed)
            {
                arrival = default;
                return false;
            }
            var index = _next++;
            if (Interlocked.Read(ref _outstanding) >= _maxOutstanding)
            {
                Interlocked.Increment(ref _dropped);
                continue;
            }
            Interlocked.Increment(ref _outstanding);
            Interlocked.Increment(ref _issued);
            var late = elapsed - due > _lateThreshold;
            if (late) Interlocked.Increment(ref _late);
            arrival = new Arrival(index, due, late);
            return true;
        }
    }

    /// <summary>Marks one admitted arrival as finished.</summary>
    public void Complete()
    {
        if (Interlocked.Decrement(ref _outstanding) < 0)
        {
            Interlocked.Increment(ref _outstanding);
            throw new InvalidOperationException("Complete called more often than arrivals were admitted");
        }
    }
}
