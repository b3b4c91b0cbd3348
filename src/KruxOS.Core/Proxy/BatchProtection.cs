using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;

namespace KruxOS.Core.Proxy;

/// <summary>What batch protection did to one call.</summary>
/// <param name="Escalated">True when the call exceeded its threshold and now needs approval.</param>
/// <param name="Operation">The write operation.</param>
/// <param name="Count">The count including this call.</param>
/// <param name="Threshold">The threshold.</param>
/// <param name="Rule">The rule reference reported with the verdict (<c>proxy:batch_protection:&lt;group&gt;</c>).</param>
public sealed record BatchCheck(bool Escalated, CapabilityName Operation, int Count, int Threshold, string Rule)
{
    /// <summary>The <c>proxy.batch_protection</c> error (for a caller that cannot be held for approval).</summary>
    public StructuredError ToError() => ProxyErrors.BatchProtection(Operation, Count, Threshold);
}

/// <summary>
/// Batch protection of proxied writes (spec §12.5), a pure step of the decide stage after the policy verdict: every
/// admitted write of an operation with a <see cref="BatchLimit"/> is counted per agent (per session, per hour, per
/// channel …) in the session's rate ledger, and the write that exceeds the threshold is escalated to
/// <see cref="Tier.ApprovalRequired"/> — held as a real approval, exactly as a policy <c>on_exceed</c> escalation.
/// Blocked or rate-refused calls are not counted; an approval-required call is.
/// </summary>
public sealed class BatchRules
{
    /// <summary>The rule reference prefix of batch escalations.</summary>
    public const string RulePrefix = "proxy:batch_protection:";

    // A session-scoped count never expires on its own before the session ends; a week is longer than any session.
    private static readonly TimeSpan SessionWindow = TimeSpan.FromDays(7);
    private const int MaxKeyValue = 128;

    private readonly FrozenDictionary<string, BatchLimit> _limits;

    /// <summary>The limits of every write operation of <paramref name="descriptors"/> that has one.</summary>
    public BatchRules(IEnumerable<AdapterDescriptor> descriptors)
    {
        ArgumentNullException.ThrowIfNull(descriptors);
        var limits = new Dictionary<string, BatchLimit>(StringComparer.Ordinal);
        foreach (var d in descriptors)
            foreach (var op in d.Operations)
                if (op.Batch is { } b) limits[op.Operation.Value] = b;
        _limits = limits.ToFrozenDictionary(StringComparer.Ordinal);
    }

    /// <summary>No limits.</summary>
    public static BatchRules None { get; } = new([]);

    /// <summary>The limit of <paramref name="operation"/>, or null.</summary>
    public BatchLimit? For(CapabilityName operation) => _limits.GetValueOrDefault(operation.Value);

    /// <summary>
    /// Checks and counts one call that the policy admitted. Returns null when the operation
    /// has no limit (nothing counted), else the check and the ledger with the call counted.
    /// </summary>
    public (BatchCheck? Check, RateState Rates) Check(Principal principal, CapabilityName operation, JsonElement arguments, string? sessionId,
        RateState rates, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(principal);
        ArgumentNullException.ThrowIfNull(rates);
        if (!_limits.TryGetValue(operation.Value, out var limit)) return (null, rates);
        var rule = RulePrefix + limit.Group;
        if (limit.Threshold == 0) return (new BatchCheck(true, operation, 1, 0, rule), rates);
        var key = new RateKey(principal.ToString(), CounterKey(limit, arguments, sessionId));
        var window = limit.Scope == BatchScope.Session ? SessionWindow : limit.Window;
        var counted = new RateLimit(limit.Threshold, window, Tier.ApprovalRequired);
        var live = rates.Live(key, window, now.UtcTicks, out _);
        var next = rates.Record(key, counted, now.UtcTicks);
        // The ledger keeps at most 'threshold' timestamps, so the count it reports saturates there: this call is over the
        // threshold exactly when the window already held 'threshold' writes.
        return (new BatchCheck(live >= limit.Threshold, operation, live + 1, limit.Threshold, rule), next);
    }

    /// <summary>
    /// The batch step of the decide stage: <paramref name="verdict"/> escalated to approval when the write exceeds its
    /// threshold. Blocked and refused verdicts pass unchanged and uncounted.
    /// </summary>
    public (PolicyVerdict Verdict, RateState Rates, BatchCheck? Check) Apply(PolicyVerdict verdict, Principal principal, CapabilityName operation,
        JsonElement arguments, string? sessionId, RateState rates, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(verdict);
        if (verdict.Tier == Tier.Blocked || verdict.Refusal is not null) return (verdict, rates, null);
        var (check, next) = Check(principal, operation, arguments, sessionId, rates, now);
        if (check is not { Escalated: true }) return (verdict, next, check);
        if (verdict.Tier >= Tier.ApprovalRequired) return (verdict, next, check);
        var reason = $"Batch protection triggered: {check.Count} {operation.Value} writes exceeds threshold ({check.Threshold}); a human must approve it";
        return (verdict with { Tier = Tier.ApprovalRequired, Rule = check.Rule, Reason = reason }, next, check);
    }

    private static string CounterKey(BatchLimit limit, JsonElement arguments, string? sessionId)
    {
        var key = "proxy-batch:" + limit.Group;
        if (limit.Scope == BatchScope.Session) key += ":session:" + (sessionId ?? string.Empty);
        if (limit.PerArgument is { } name)
        {
            var value = arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
                ? v.GetString() ?? string.Empty : string.Empty;
            if (value.Length > MaxKeyValue) value = value[..MaxKeyValue];
            key += ":" + name + "=" + value;
        }
        return key;
    }

    /// <summary>The limits by operation (for listings and tests).</summary>
    public ImmutableDictionary<string, BatchLimit> Limits => _limits.ToImmutableDictionary(StringComparer.Ordinal);
}
