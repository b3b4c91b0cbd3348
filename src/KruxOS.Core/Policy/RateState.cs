using System.Collections.Immutable;

namespace KruxOS.Core.Policy;

/// <summary>Identifies one rate-limit counter: a principal (<c>agent:name</c>) and a rule's <see cref="PolicyRule.CounterKey"/> (<c>file:line</c>).</summary>
public readonly record struct RateKey(string Principal, string Rule);

/// <summary>
/// The recent calls counted against rate-limited rules, as an immutable value owned by the caller (an actor):
/// every decision returns the next state. Each counter keeps at most <c>max</c> exact timestamps, so memory
/// is bounded by the limits in force. Counters are in memory only and start empty on a restart (spec §6.7).
/// </summary>
public sealed class RateState
{
    private readonly ImmutableDictionary<RateKey, RateWindow> _windows;

    private RateState(ImmutableDictionary<RateKey, RateWindow> windows) => _windows = windows;

    /// <summary>No calls counted.</summary>
    public static RateState Empty { get; } = new(ImmutableDictionary<RateKey, RateWindow>.Empty);

    /// <summary>Number of counters held.</summary>
    public int Count => _windows.Count;

    /// <summary>The timestamps (UTC ticks, oldest first) held for a counter; empty if none.</summary>
    public ImmutableArray<long> Timestamps(RateKey key) => _windows.TryGetValue(key, out var w) ? w.Ticks : [];

    /// <summary>
    /// How many calls of the window are still live at <paramref name="now"/>, and when the oldest live one expires.
    /// </summary>
    internal int Live(RateKey key, TimeSpan window, long now, out long oldestLive)
    {
        oldestLive = 0;
        if (!_windows.TryGetValue(key, out var w)) return 0;
        var cutoff = now - window.Ticks;
        var live = 0;
        for (var i = w.Ticks.Length - 1; i >= 0 && w.Ticks[i] > cutoff; i--)
        {
            live++;
            oldestLive = w.Ticks[i];
        }
        return live;
    }

    /// <summary>Counts one call at <paramref name="now"/>, dropping expired timestamps and keeping at most <c>limit.Max</c>.</summary>
    internal RateState Record(RateKey key, RateLimit limit, long now)
    {
        var cutoff = now - limit.Window.Ticks;
        var previous = _windows.TryGetValue(key, out var w) ? w.Ticks : [];
        var start = 0;
        while (start < previous.Length && previous[start] <= cutoff) start++;
        var keep = Math.Min(previous.Length - start, limit.Max - 1);
        var ticks = new long[keep + 1];
        previous.CopyTo(previous.Length - keep, ticks, 0, keep);
        ticks[keep] = Math.Max(now, keep > 0 ? ticks[keep - 1] : now);
        return new RateState(_windows.SetItem(key, new RateWindow(ImmutableCollectionsMarshalHelper.Wrap(ticks), limit.Window)));
    }

    /// <summary>
    /// When the last counted call leaves its window: from then on the state holds nothing live and can be dropped
    /// without changing any decision. Null when nothing is counted.
    /// </summary>
    public DateTimeOffset? ExpiresAt
    {
        get
        {
            long? latest = null;
            foreach (var (_, window) in _windows)
                if (!window.Ticks.IsEmpty && window.Ticks[^1] + window.Window.Ticks is var end && (latest is null || end > latest)) latest = end;
            return latest is { } ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : null;
        }
    }

    /// <summary>Drops counters whose every timestamp has left its window; call now and then to bound memory.</summary>
    public RateState Prune(DateTimeOffset now)
    {
        var t = now.UtcTicks;
        var builder = _windows.ToBuilder();
        foreach (var (key, window) in _windows)
            if (window.Ticks.IsEmpty || window.Ticks[^1] <= t - window.Window.Ticks) builder.Remove(key);
        return builder.Count == _windows.Count ? this : new RateState(builder.ToImmutable());
    }

    private sealed record RateWindow(ImmutableArray<long> Ticks, TimeSpan Window);
}

internal static class ImmutableCollectionsMarshalHelper
{
    public static ImmutableArray<T> Wrap<T>(T[] array) => System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsImmutableArray(array);
}
