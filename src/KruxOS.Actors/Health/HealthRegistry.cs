using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Diagnostics;

namespace KruxOS.Actors.Health;

/// <summary>Health status, ordered from best to worst.</summary>
public enum HealthStatus { Healthy = 0, Degraded = 1, Critical = 2 }

/// <summary>The result of one health check.</summary>
public sealed record HealthCheckResult(HealthStatus Status, string Message)
{
    public static HealthCheckResult Healthy(string message = "ok") => new(HealthStatus.Healthy, message);
    public static HealthCheckResult Degraded(string message) => new(HealthStatus.Degraded, message);
    public static HealthCheckResult Critical(string message) => new(HealthStatus.Critical, message);
}

/// <summary>One check's outcome in a report.</summary>
public sealed record HealthServiceReport(string Name, HealthStatus Status, string Message, double LatencyMs, DateTimeOffset CheckedAt);

/// <summary>All checks at one moment; the overall status is the worst service status.</summary>
public sealed record HealthReport(HealthStatus Status, ImmutableArray<HealthServiceReport> Services, DateTimeOffset GeneratedAt, double TotalLatencyMs);

/// <summary>
/// The node's named health checks (gateway, identity store, audit, sandbox-confinement, …). Every
/// surface that reports health — the health port, <c>system.health</c>, <c>kruxos status</c> — reads
/// this one registry. A check that throws or takes longer than its budget counts as critical.
/// </summary>
public sealed class HealthRegistry(TimeProvider clock)
{
    /// <summary>Longest a single check may take.</summary>
    public static readonly TimeSpan CheckBudget = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<string, Func<CancellationToken, ValueTask<HealthCheckResult>>> _checks = new(StringComparer.Ordinal);

    /// <summary>
    /// A registry holding the checks the node's areas registered (<see cref="HealthChecks.AddHealthCheck"/>). Each check is
    /// built from <paramref name="services"/> the first time it runs, so a check never forces a service into existence early.
    /// </summary>
    public HealthRegistry(TimeProvider clock, IEnumerable<HealthCheckRegistration> registrations, IServiceProvider services) : this(clock)
    {
        ArgumentNullException.ThrowIfNull(registrations);
        ArgumentNullException.ThrowIfNull(services);
        foreach (var registration in registrations)
        {
            var check = new Lazy<Func<CancellationToken, ValueTask<HealthCheckResult>>>(() => registration.Check(services));
            Register(registration.Name, ct => check.Value(ct));
        }
    }

    /// <summary>Adds or replaces a check.</summary>
    public void Register(string name, Func<CancellationToken, ValueTask<HealthCheckResult>> check) => _checks[name] = check;

    /// <summary>Runs every check concurrently.</summary>
    public async Task<HealthReport> RunAsync(CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var tasks = _checks.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => RunOne(kv.Key, kv.Value, cancellationToken)).ToList();
        var services = await Task.WhenAll(tasks).ConfigureAwait(false);
        var worst = services.Length == 0 ? HealthStatus.Healthy : services.Max(s => s.Status);
        return new HealthReport(worst, [.. services], clock.GetUtcNow(), Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private async Task<HealthServiceReport> RunOne(string name, Func<CancellationToken, ValueTask<HealthCheckResult>> check, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        HealthCheckResult result;
        try
        {
            using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
            budget.CancelAfter(CheckBudget);
            result = await check(budget.Token).AsTask().WaitAsync(budget.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            result = HealthCheckResult.Critical($"check did not answer within {CheckBudget.TotalSeconds:0}s");
        }
        catch (Exception e)
        {
            result = HealthCheckResult.Critical($"check failed: {e.Message}");
        }
        return new HealthServiceReport(name, result.Status, result.Message, Stopwatch.GetElapsedTime(started).TotalMilliseconds, clock.GetUtcNow());
    }
}

/// <summary>Wire spellings of health statuses.</summary>
public static class HealthStatusText
{
    /// <summary>healthy / degraded / critical, as the health port reports them.</summary>
    public static string ToWire(this HealthStatus s) => s switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "critical",
    };

    /// <summary>healthy / degraded / unhealthy, as the <c>system.health</c> capability reports them.</summary>
    public static string ToCapabilityWire(this HealthStatus s) => s switch
    {
        HealthStatus.Healthy => "healthy",
        HealthStatus.Degraded => "degraded",
        _ => "unhealthy",
    };
}
