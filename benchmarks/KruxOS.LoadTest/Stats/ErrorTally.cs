using System.Collections.Concurrent;

namespace KruxOS.LoadTest.Stats;

/// <summary>Counts failed operations by kind and detail (thread-safe; errors are rare, so a dictionary is fine).</summary>
public sealed class ErrorTally
{
    private readonly ConcurrentDictionary<string, long> _counts = new(StringComparer.Ordinal);
    private long _total;

    /// <summary>Counts one failure; successes are ignored.</summary>
    public void Record(CallOutcome outcome)
    {
        if (outcome.IsOk) return;
        _counts.AddOrUpdate(outcome.Key, 1, (_, n) => n + 1);
        Interlocked.Increment(ref _total);
    }

    /// <summary>All failures.</summary>
    public long Total => Interlocked.Read(ref _total);

    /// <summary>Failures by key, sorted by key.</summary>
    public SortedDictionary<string, long> Snapshot() => new(_counts.ToDictionary(), StringComparer.Ordinal);
}
