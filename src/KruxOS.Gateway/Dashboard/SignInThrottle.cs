using System.Collections.Concurrent;
using System.Net;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// Failed dashboard sign-ins per client address in the last minute: after <see cref="FailuresPerMinute"/> failures the
/// address's further attempts are refused without checking the token (429) until the oldest failure leaves the window.
/// Only failures count; each address keeps at most that many timestamps, and at most <see cref="MaxAddresses"/> addresses
/// are tracked.
/// </summary>
public sealed class SignInThrottle(TimeProvider clock)
{
    /// <summary>Failed sign-ins an address may make in a minute.</summary>
    public const int FailuresPerMinute = 5;

    private const int MaxAddresses = 10_000;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<IPAddress, Queue<DateTimeOffset>> _failures = new();

    /// <summary>Whether <paramref name="address"/> is refused now; <paramref name="retryAfter"/> says for how long.</summary>
    public bool IsLimited(IPAddress address, out int retryAfter)
    {
        retryAfter = 0;
        if (!_failures.TryGetValue(address, out var q)) return false;
        lock (q)
        {
            var now = clock.GetUtcNow();
            Trim(q, now);
            if (q.Count < FailuresPerMinute) return false;
            retryAfter = Math.Max(1, (int)Math.Ceiling((q.Peek() + Window - now).TotalSeconds));
            return true;
        }
    }

    /// <summary>Records a failed sign-in from <paramref name="address"/>.</summary>
    public void Failed(IPAddress address)
    {
        var q = _failures.GetOrAdd(address, _ => new Queue<DateTimeOffset>());
        lock (q)
        {
            var now = clock.GetUtcNow();
            Trim(q, now);
            q.Enqueue(now);
            while (q.Count > FailuresPerMinute) q.Dequeue();
        }
        if (_failures.Count > MaxAddresses)
            foreach (var (a, queue) in _failures)
                lock (queue)
                {
                    Trim(queue, clock.GetUtcNow());
                    if (queue.Count == 0) _failures.TryRemove(a, out _);
                }
    }

    private static void Trim(Queue<DateTimeOffset> q, DateTimeOffset now)
    {
        while (q.Count > 0 && q.Peek() <= now - Window) q.Dequeue();
    }
}
