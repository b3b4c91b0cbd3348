namespace KruxOS.LoadTest.Targets;

/// <summary>
/// A process's context switches as a total that only grows, built from successive per-thread readings
/// (<see cref="ProcStatus.ThreadContextSwitches"/>): each reading adds what every thread did since the previous one,
/// and a new thread adds all of its count. Summing the live threads instead would drop whatever an ended thread had
/// done, and a difference of two such sums can even be negative while the thread pool retires threads. What an
/// ended thread did after the last reading is not counted, so the total is a slight lower bound.
/// </summary>
internal sealed class ContextSwitchTally
{
    private Dictionary<int, long> _previous = [];

    /// <summary>The switches counted so far.</summary>
    public long Total { get; private set; }

    /// <summary>Adds one reading and returns the new total.</summary>
    public long Add(Dictionary<int, long> reading)
    {
        foreach (var (tid, count) in reading)
        {
            // A thread id the kernel reused for a new thread shows a smaller count: count that thread from zero.
            Total += _previous.TryGetValue(tid, out var before) && count >= before ? count - before : count;
        }
        _previous = reading;
        return Total;
    }
}
