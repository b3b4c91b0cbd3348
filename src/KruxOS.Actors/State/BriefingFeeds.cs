using System.Collections.Concurrent;
using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.State.Briefings;

namespace KruxOS.Actors.State;

/// <summary>
/// The node-local briefing feeds (ADR 0057): per agent, the workspace changes its own sandboxed calls made and the ends of
/// its processes, each in a bounded ring in memory (<see cref="BriefingFeedRules.MaxFileChangesPerAgent"/>,
/// <see cref="BriefingFeedRules.MaxProcessEventsPerAgent"/>). Fed by the sandboxed capability handler (after a successful
/// call) and by the sandbox host's process-exit channel — never by reading the agent-writable workspace. Not journaled:
/// the feeds begin at <see cref="StartedAt"/>, which a briefing reports when its window starts earlier. Thread-safe.
/// </summary>
public sealed class BriefingFeeds(TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, AgentFeed> _agents = new(StringComparer.Ordinal);

    /// <summary>When this node's feeds began (the node's start).</summary>
    public DateTimeOffset StartedAt { get; } = clock.GetUtcNow();

    /// <summary>The clock the feeds stamp entries with.</summary>
    public TimeProvider Clock => clock;

    /// <summary>Records a workspace change of <paramref name="agent"/>.</summary>
    public void RecordFileChange(AgentName agent, BriefingFileChange change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var feed = _agents.GetOrAdd(agent.Value, _ => new AgentFeed());
        lock (feed) feed.Files = BriefingFeedRules.Append(feed.Files, change, BriefingFeedRules.MaxFileChangesPerAgent);
    }

    /// <summary>Records the end of one of <paramref name="agent"/>'s processes.</summary>
    public void RecordProcessEvent(AgentName agent, BriefingProcessEvent e)
    {
        ArgumentNullException.ThrowIfNull(e);
        var feed = _agents.GetOrAdd(agent.Value, _ => new AgentFeed());
        lock (feed) feed.Processes = BriefingFeedRules.Append(feed.Processes, e, BriefingFeedRules.MaxProcessEventsPerAgent);
    }

    /// <summary>The kept workspace changes of <paramref name="agent"/>, oldest first.</summary>
    public ImmutableArray<BriefingFileChange> FileChanges(AgentName agent)
    {
        if (!_agents.TryGetValue(agent.Value, out var feed)) return [];
        lock (feed) return feed.Files;
    }

    /// <summary>The kept process events of <paramref name="agent"/>, oldest first.</summary>
    public ImmutableArray<BriefingProcessEvent> ProcessEvents(AgentName agent)
    {
        if (!_agents.TryGetValue(agent.Value, out var feed)) return [];
        lock (feed) return feed.Processes;
    }

    private sealed class AgentFeed
    {
        public ImmutableArray<BriefingFileChange> Files = [];
        public ImmutableArray<BriefingProcessEvent> Processes = [];
    }
}
