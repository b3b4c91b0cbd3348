using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Pauses;

/// <summary>A paused agent: who paused it and when.</summary>
public sealed record PausedAgent(string Agent, string By, DateTimeOffset At);

/// <summary>Commands to the pause registry (one entity for the deployment).</summary>
public interface IPauseCommand : IKruxMessage;

/// <summary>The commands.</summary>
public static class PauseCommands
{
    /// <summary><c>kruxos pause</c>: every call of the agent fails with <c>SessionPaused</c>, its jobs do not run.</summary>
    [WireName("pauses.pause.v1")]
    public sealed record Pause(AgentName Agent, string By) : IPauseCommand;

    /// <summary><c>kruxos resume</c>.</summary>
    [WireName("pauses.resume.v1")]
    public sealed record Resume(AgentName Agent, string By) : IPauseCommand;

    /// <summary>The paused agents, with the registry's version (replicas apply only newer ones).</summary>
    [WireName("pauses.get.v1")]
    public sealed record GetPauses : IPauseCommand
    {
        /// <summary>The one instance.</summary>
        public static readonly GetPauses Instance = new();
    }
}

/// <summary>Persisted events of the pause registry.</summary>
public interface IPauseEvent : IKruxMessage;

/// <summary>The events.</summary>
public static class PauseEvents
{
    /// <summary>An agent was paused.</summary>
    [WireName("pauses.paused.v1")]
    public sealed record AgentPaused(string Agent, string By, DateTimeOffset At) : IPauseEvent;

    /// <summary>An agent was resumed.</summary>
    [WireName("pauses.resumed.v1")]
    public sealed record AgentResumed(string Agent, string By, DateTimeOffset At) : IPauseEvent;
}

/// <summary>Replies of the pause registry.</summary>
public static class PauseReplies
{
    /// <summary>The agent's pause state after the command, and whether the command changed it.</summary>
    [WireName("pauses.result.v1")]
    public sealed record PauseResult(string Agent, bool Paused, bool Changed) : IKruxMessage;

    /// <summary>Every paused agent at <paramref name="Version"/> (the registry's event count).</summary>
    [WireName("pauses.state.v1")]
    public sealed record PausesState(ImmutableArray<PausedAgent> Paused, long Version) : IKruxMessage;
}

/// <summary>The pause registry's state: the paused agents by name. Changed only through <see cref="Decide"/> / <see cref="Apply"/>.</summary>
[WireName("pauses.snapshot.v1")]
public sealed record PauseState(ImmutableSortedDictionary<string, PausedAgent> Paused) : IKruxMessage
{
    /// <summary>Nobody paused.</summary>
    public static readonly PauseState Empty = new(ImmutableSortedDictionary.Create<string, PausedAgent>(StringComparer.Ordinal));

    /// <summary>Whether <paramref name="agent"/> is paused.</summary>
    public bool IsPaused(string agent) => Paused.ContainsKey(agent);

    /// <summary>Decides a pause or resume: idempotent (pausing a paused agent changes nothing).</summary>
    public (PauseReplies.PauseResult Reply, IPauseEvent? Event) Decide(IPauseCommand command, DateTimeOffset now) => command switch
    {
        PauseCommands.Pause p when IsPaused(p.Agent.Value) => (new(p.Agent.Value, true, false), null),
        PauseCommands.Pause p => (new(p.Agent.Value, true, true), new PauseEvents.AgentPaused(p.Agent.Value, p.By, now)),
        PauseCommands.Resume r when IsPaused(r.Agent.Value) => (new(r.Agent.Value, false, true), new PauseEvents.AgentResumed(r.Agent.Value, r.By, now)),
        PauseCommands.Resume r => (new(r.Agent.Value, false, false), null),
        _ => throw new ArgumentException($"not a pause decision: {command.GetType().Name}", nameof(command)),
    };

    /// <summary>Applies an event.</summary>
    public PauseState Apply(IPauseEvent evt) => evt switch
    {
        PauseEvents.AgentPaused e => new(Paused.SetItem(e.Agent, new PausedAgent(e.Agent, e.By, e.At))),
        PauseEvents.AgentResumed e => new(Paused.Remove(e.Agent)),
        _ => this,
    };
}

/// <summary>The pause error (spec §16.1 <c>SessionPaused</c>).</summary>
public static class PauseErrors
{
    /// <summary>The operator paused the agent; the connection stays open and calls work again after <c>kruxos resume</c>.</summary>
    public static StructuredError SessionPaused(string agent) =>
        StructuredError.Create("SessionPaused", $"Agent '{agent}' is paused by the operator; no call runs until it is resumed.", retryable: true)
            .RetryAfter(60)
            .WithRecovery("wait_for_resume", "Wait for the operator to resume the agent (kruxos resume); the connection stays open.")
            .WithContext("agent", agent);
}
