namespace KruxOS.Bridge;

/// <summary>
/// Reconnect delays: exponential from 1 s, doubling up to 60 s, each with up to ±20 % jitter so that
/// many bridges dropped by one gateway restart do not reconnect in lock-step. <see cref="Reset"/> after
/// a session is established again.
/// </summary>
public sealed class Backoff(Random random)
{
    public static readonly TimeSpan Initial = TimeSpan.FromSeconds(1);
    public static readonly TimeSpan Maximum = TimeSpan.FromSeconds(60);

    /// <summary>Jitter as a fraction of the nominal delay.</summary>
    public const double JitterFraction = 0.2;

    private int _attempt;

    /// <summary>The delay before attempt <paramref name="attempt"/> (0-based), before jitter.</summary>
    public static TimeSpan Nominal(int attempt)
    {
        if (attempt < 0) throw new ArgumentOutOfRangeException(nameof(attempt));
        var seconds = attempt >= 6 ? Maximum.TotalSeconds : Math.Min(Maximum.TotalSeconds, Initial.TotalSeconds * (1 << attempt));
        return TimeSpan.FromSeconds(seconds);
    }

    /// <summary>The next delay, with jitter, never above <see cref="Maximum"/> nor below half of <see cref="Initial"/>.</summary>
    public TimeSpan Next()
    {
        var nominal = Nominal(_attempt);
        if (_attempt < 16) _attempt++;
        var factor = 1 + JitterFraction * (2 * random.NextDouble() - 1);
        var ms = Math.Clamp(nominal.TotalMilliseconds * factor, Initial.TotalMilliseconds / 2, Maximum.TotalMilliseconds);
        return TimeSpan.FromMilliseconds(ms);
    }

    /// <summary>Starts the schedule again at 1 s.</summary>
    public void Reset() => _attempt = 0;
}
