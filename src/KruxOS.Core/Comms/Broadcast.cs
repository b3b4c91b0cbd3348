using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Comms;

/// <summary>
/// A name pattern of <c>comms.broadcast</c>: <c>*</c> matches any run of characters, <c>?</c> one character,
/// everything else itself; 1-64 characters of <c>[a-z0-9_-*?]</c> (the characters agent names are made of).
/// Matching is a scan with a single backtrack point (at most name × pattern steps, both at most 64
/// characters), never a regular expression, so no pattern can make it slow.
/// </summary>
public sealed class NameGlob
{
    /// <summary>Longest pattern.</summary>
    public const int MaxLength = 64;

    private NameGlob(string pattern) => Pattern = pattern;

    /// <summary>The pattern.</summary>
    public string Pattern { get; }

    /// <summary>Parses a pattern; null with an <c>InvalidInput</c> error for <paramref name="field"/> when it is not one.</summary>
    public static NameGlob? TryParse(string? pattern, string field, out StructuredError? error)
    {
        error = null;
        if (string.IsNullOrEmpty(pattern) || pattern.Length > MaxLength
            || !pattern.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-' or '*' or '?'))
        {
            error = Errors.Errors.InvalidInput(field, $"a name pattern is 1-{MaxLength} characters of a-z, 0-9, '_', '-', '*' and '?'");
            return null;
        }
        return new NameGlob(pattern);
    }

    /// <summary>Whether <paramref name="name"/> matches the whole pattern.</summary>
    public bool Matches(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        int p = 0, n = 0, star = -1, resume = 0;
        while (n < name.Length)
        {
            if (p < Pattern.Length && (Pattern[p] == '?' || Pattern[p] == name[n])) { p++; n++; }
            else if (p < Pattern.Length && Pattern[p] == '*') { star = p++; resume = n; }
            else if (star >= 0) { p = star + 1; n = ++resume; }
            else return false;
        }
        while (p < Pattern.Length && Pattern[p] == '*') p++;
        return p == Pattern.Length;
    }
}

/// <summary>The <c>filter</c> of <c>comms.broadcast</c>: every active agent, or those of a policy group and/or matching a name pattern.</summary>
/// <param name="PolicyGroup">Only agents in this policy group (exact).</param>
/// <param name="NamePattern">Only agents whose name matches.</param>
public sealed record BroadcastFilter(string? PolicyGroup, NameGlob? NamePattern)
{
    /// <summary>No filter: every active agent but the sender.</summary>
    public static readonly BroadcastFilter All = new(null, null);

    /// <summary>Parses the <c>filter</c> argument (absent or null: <see cref="All"/>). Unknown fields are refused, not ignored.</summary>
    public static BroadcastFilter? TryParse(JsonElement? filter, out StructuredError? error)
    {
        error = null;
        if (filter is not { } f || f.ValueKind == JsonValueKind.Null) return All;
        if (f.ValueKind != JsonValueKind.Object) { error = Errors.Errors.InvalidInput("filter", "must be an object"); return null; }
        string? group = null;
        NameGlob? glob = null;
        foreach (var p in f.EnumerateObject())
        {
            switch (p.Name)
            {
                case "policy_group" when p.Value.ValueKind == JsonValueKind.String:
                    group = p.Value.GetString();
                    if (string.IsNullOrEmpty(group) || group.Length > 64 || group.Any(char.IsControl))
                    {
                        error = Errors.Errors.InvalidInput("filter.policy_group", "must be 1-64 printable characters");
                        return null;
                    }
                    break;
                case "name_pattern" when p.Value.ValueKind == JsonValueKind.String:
                    glob = NameGlob.TryParse(p.Value.GetString(), "filter.name_pattern", out error);
                    if (glob is null) return null;
                    break;
                case "policy_group" or "name_pattern":
                    error = Errors.Errors.InvalidInput("filter." + p.Name, "must be a string");
                    return null;
                default:
                    error = Errors.Errors.InvalidInput("filter", "only 'policy_group' and 'name_pattern' are understood");
                    return null;
            }
        }
        return new BroadcastFilter(group, glob);
    }

    /// <summary>Whether an agent passes the filter.</summary>
    public bool Admits(BroadcastCandidate candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        return (PolicyGroup is null || candidate.PolicyGroup == PolicyGroup) && (NamePattern is null || NamePattern.Matches(candidate.Name.Value));
    }
}

/// <summary>An agent as the broadcast sees it.</summary>
/// <param name="Name">The agent.</param>
/// <param name="PolicyGroup">Its policy group.</param>
/// <param name="Revoked">Revoked agents get nothing.</param>
/// <param name="Connected">Whether a client of it is connected (its copy is <c>delivered</c>, else <c>queued</c>).</param>
public sealed record BroadcastCandidate(AgentName Name, string PolicyGroup, bool Revoked, bool Connected);

/// <summary>Where a broadcast goes: the recipients in name order, and how many are connected or will find it queued.</summary>
public sealed record BroadcastPlan(ImmutableArray<AgentName> Recipients, int Delivered, int Queued)
{
    /// <summary><c>delivery_count</c>.</summary>
    public int DeliveryCount => Recipients.Length;

    /// <summary>
    /// The fan-out of a broadcast from <paramref name="from"/>: every active agent the filter admits, except the
    /// sender. Pure: the connected flags are read by the caller when it plans.
    /// </summary>
    public static BroadcastPlan For(string from, BroadcastFilter filter, IEnumerable<BroadcastCandidate> agents)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(agents);
        var chosen = agents.Where(a => !a.Revoked && a.Name.Value != from && filter.Admits(a))
            .DistinctBy(a => a.Name.Value).OrderBy(a => a.Name.Value, StringComparer.Ordinal).ToList();
        return new BroadcastPlan([.. chosen.Select(a => a.Name)], chosen.Count(a => a.Connected), chosen.Count(a => !a.Connected));
    }
}

/// <summary>The output records of <c>comms.send</c> and <c>comms.broadcast</c> (spec §8.6).</summary>
public static class SendReplies
{
    /// <summary><c>message_id, status (delivered | queued), to</c>.</summary>
    [WireName("comms.send-result.v1")]
    public sealed record SendResult(string MessageId, string Status, string To) : ICommsReply;

    /// <summary><c>message_id, delivery_count, delivered, queued</c>.</summary>
    [WireName("comms.broadcast-result.v1")]
    public sealed record BroadcastResult(string MessageId, int DeliveryCount, int Delivered, int Queued) : ICommsReply;
}
