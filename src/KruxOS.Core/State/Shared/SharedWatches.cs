using System.Collections.Immutable;
using System.Security.Cryptography;
using KruxOS.Core.Agents;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.State.Shared;

/// <summary>One <c>state.shared.watch</c>: changes of keys starting with <paramref name="Prefix"/> go to <paramref name="Agent"/>'s session <paramref name="SessionId"/> until it ends.</summary>
/// <param name="SubscriptionId"><c>sub-</c> + 16 lower-case hex characters.</param>
/// <param name="Agent">The watching agent.</param>
/// <param name="SessionId">The MCP session that asked; the watch ends with it.</param>
/// <param name="Prefix">Key prefix; empty watches every key.</param>
/// <param name="CreatedAt">When it was set up.</param>
[WireName("state.shared.watch.v1")]
public sealed record SharedWatch(string SubscriptionId, AgentName Agent, string SessionId, string Prefix, DateTimeOffset CreatedAt) : IKruxMessage;

/// <summary>The change event one watch delivers (the payload of <c>notifications/kruxos/state_changed</c>, and of the inbox message when the session is not connected).</summary>
/// <param name="SubscriptionId">The watch.</param>
/// <param name="Key">The key.</param>
/// <param name="Version">New version, or the last one before a delete.</param>
/// <param name="Change"><c>set</c> or <c>deleted</c>.</param>
/// <param name="OwnerAgent">Who changed it.</param>
/// <param name="UpdatedAt">When.</param>
[WireName("state.shared.watch-event.v1")]
public sealed record SharedWatchEvent(string SubscriptionId, string Key, long Version, SharedChangeKind Change, string OwnerAgent, DateTimeOffset UpdatedAt) : IKruxMessage
{
    /// <summary>The MCP notification method.</summary>
    public const string NotificationMethod = "notifications/kruxos/state_changed";
}

/// <summary>Limits of watches.</summary>
/// <param name="MaxPerSession">Watches one session may hold. Default 32.</param>
/// <param name="MaxPerAgent">Watches one agent may hold across its sessions. Default 64.</param>
public sealed record SharedWatchLimits(int MaxPerSession, int MaxPerAgent)
{
    /// <summary>32 per session, 64 per agent.</summary>
    public static readonly SharedWatchLimits Default = new(32, 64);
}

/// <summary>
/// A node's watches (not persisted: a watch lives as long as its session, and sessions do not survive a
/// restart). Every node holds the watches of its own sessions and matches every published
/// <see cref="SharedStateChange"/> against them; a change reaches exactly the watches whose prefix
/// matches, and only their sessions.
/// </summary>
public sealed class SharedWatchRegistry
{
    /// <summary>The prefix of subscription ids.</summary>
    public const string IdPrefix = "sub-";

    private SharedWatchRegistry(ImmutableSortedDictionary<string, SharedWatch> watches) => Watches = watches;

    /// <summary>No watches.</summary>
    public static readonly SharedWatchRegistry Empty = new(ImmutableSortedDictionary.Create<string, SharedWatch>(StringComparer.Ordinal));

    /// <summary>Watches by subscription id.</summary>
    public ImmutableSortedDictionary<string, SharedWatch> Watches { get; }

    /// <summary>A new random subscription id (reads the CSPRNG: call it when deciding).</summary>
    public static string NewSubscriptionId() => IdPrefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>
    /// Sets up a watch. The same session watching the same prefix again gets its existing subscription
    /// (no duplicate events). Refused with <c>InvalidInput</c> for a bad prefix and <c>SubscriptionFailed</c>
    /// over a limit.
    /// </summary>
    public (IStateReply Reply, SharedWatchRegistry Registry) Subscribe(AgentName agent, string sessionId, string? prefix, string newSubscriptionId,
        DateTimeOffset now, SharedWatchLimits limits)
    {
        ArgumentException.ThrowIfNullOrEmpty(sessionId);
        ArgumentNullException.ThrowIfNull(limits);
        if (StateKeys.ValidatePrefix(prefix) is { } bad) return (new StateRefused(bad), this);
        var p = prefix ?? string.Empty;
        var existing = Watches.Values.FirstOrDefault(w => w.SessionId == sessionId && w.Agent == agent && w.Prefix == p);
        if (existing is not null) return (new SharedStateReplies.WatchResult(existing.SubscriptionId), this);
        if (Watches.Values.Count(w => w.SessionId == sessionId) >= limits.MaxPerSession)
            return (new StateRefused(StateErrors.SubscriptionFailed($"this session already holds {limits.MaxPerSession} watches", limits.MaxPerSession)), this);
        if (Watches.Values.Count(w => w.Agent == agent) >= limits.MaxPerAgent)
            return (new StateRefused(StateErrors.SubscriptionFailed($"this agent already holds {limits.MaxPerAgent} watches", limits.MaxPerAgent)), this);
        if (!newSubscriptionId.StartsWith(IdPrefix, StringComparison.Ordinal) || Watches.ContainsKey(newSubscriptionId))
            return (new StateRefused(StateErrors.SubscriptionFailed("the subscription id could not be allocated")), this);
        var watch = new SharedWatch(newSubscriptionId, agent, sessionId, p, now);
        return (new SharedStateReplies.WatchResult(watch.SubscriptionId), new SharedWatchRegistry(Watches.Add(watch.SubscriptionId, watch)));
    }

    /// <summary>Drops every watch of a session (it ended).</summary>
    public SharedWatchRegistry EndSession(string sessionId) =>
        new(Watches.RemoveRange(Watches.Values.Where(w => w.SessionId == sessionId).Select(w => w.SubscriptionId).ToList()));

    /// <summary>Drops every watch of an agent (revoked).</summary>
    public SharedWatchRegistry EndAgent(AgentName agent) =>
        new(Watches.RemoveRange(Watches.Values.Where(w => w.Agent == agent).Select(w => w.SubscriptionId).ToList()));

    /// <summary>The events a change produces: one per matching watch, in subscription-id order.</summary>
    public ImmutableArray<(SharedWatch Watch, SharedWatchEvent Event)> Match(SharedStateChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var matches = ImmutableArray.CreateBuilder<(SharedWatch, SharedWatchEvent)>();
        foreach (var w in Watches.Values)
            if (StateKeys.Matches(change.Key, w.Prefix))
                matches.Add((w, new SharedWatchEvent(w.SubscriptionId, change.Key, change.Version, change.Change, change.OwnerAgent, change.At)));
        return matches.ToImmutable();
    }
}
