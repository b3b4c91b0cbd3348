using KruxOS.Core.Agents;
using KruxOS.Core.Pauses;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Tests.Serialization;

/// <summary>Round-trip samples of the pause registry's wire types and the call trigger (issue 19 hosting).</summary>
internal static class PauseWireSamples
{
    private static readonly DateTimeOffset At = new(2026, 3, 25, 14, 0, 0, TimeSpan.Zero);
    private static readonly AgentName Agent = AgentName.Parse("builder");

    public static IEnumerable<object> All()
    {
        yield return new PauseCommands.Pause(Agent, "cli:root");
        yield return new PauseCommands.Resume(Agent, "user:ops");
        yield return PauseCommands.GetPauses.Instance;
        yield return new PauseEvents.AgentPaused("builder", "cli:root", At);
        yield return new PauseEvents.AgentResumed("builder", "cli:root", At);
        yield return new PauseReplies.PauseResult("builder", true, true);
        yield return new PauseReplies.PausesState([new PausedAgent("builder", "cli:root", At)], 7);
        yield return PauseState.Empty.Apply(new PauseEvents.AgentPaused("builder", "cli:root", At));
        yield return new CallTrigger("schedule", "cron-0123456789abcdef");
    }
}
