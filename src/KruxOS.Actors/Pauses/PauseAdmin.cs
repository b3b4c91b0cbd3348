using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Core.Admin;
using KruxOS.Core.Agents;
using KruxOS.Core.Pauses;

namespace KruxOS.Actors.Pauses;

/// <summary>
/// <c>kruxos pause|resume &lt;agent&gt;</c> for every adapter: records the pause durably, after which every call of the
/// agent fails fast with <c>SessionPaused</c> (its connections stay open) and its scheduled jobs do not run. Every pause
/// and resume is audited here for every surface (<c>operator.pause.pause</c> / <c>operator.pause.resume</c>, attributed to
/// <c>by</c>): requested before it is made, refused with <c>audit_error</c> when that entry cannot be written (ADR 0057).
/// </summary>
public sealed class PauseAdmin(IRequiredActor<PauseRegistryKey> registry, Identity.IdentityDirectory identities, PauseDirectory directory,
    IEnumerable<IPauseListener> listeners, KruxOS.Actors.Audit.OperatorAudit audit)
{
    /// <summary>Pauses <paramref name="name"/>, as <paramref name="by"/>.</summary>
    public Task<AdminResult<PauseReplies.PauseResult>> PauseAsync(string? name, string by, CancellationToken ct) => ChangeAsync(name, by, pause: true, ct);

    /// <summary>Resumes <paramref name="name"/>, as <paramref name="by"/>.</summary>
    public Task<AdminResult<PauseReplies.PauseResult>> ResumeAsync(string? name, string by, CancellationToken ct) => ChangeAsync(name, by, pause: false, ct);

    /// <summary>Whether <paramref name="agent"/> is paused on this node's view.</summary>
    public bool IsPaused(string agent) => directory.IsPaused(agent);

    private Task<AdminResult<PauseReplies.PauseResult>> ChangeAsync(string? name, string by, bool pause, CancellationToken ct)
    {
        // A malformed or unknown name changes nothing and is answered without an entry.
        if (!AgentName.TryParse(name, out var agent, out var reason)) return Task.FromResult<AdminResult<PauseReplies.PauseResult>>(AdminErrors.InvalidInput(reason));
        if (!identities.Current.Agents.ContainsKey(agent.Value))
            return Task.FromResult<AdminResult<PauseReplies.PauseResult>>(AdminErrors.NotFound($"agent '{agent}' not found"));
        return audit.AuditedAsync(by, pause ? "operator.pause.pause" : "operator.pause.resume",
            new System.Text.Json.Nodes.JsonObject { ["agent"] = agent.Value }, () => ApplyAsync(agent, by, pause, ct), ct);
    }

    private Task<AdminResult<PauseReplies.PauseResult>> ApplyAsync(AgentName agent, string by, bool pause, CancellationToken ct) =>
        AdminCalls.Guarded<PauseReplies.PauseResult>(async () =>
        {
            var actor = await registry.GetAsync(ct).ConfigureAwait(false);
            IPauseCommand command = pause ? new PauseCommands.Pause(agent, by) : new PauseCommands.Resume(agent, by);
            var result = await actor.Ask<PauseReplies.PauseResult>(command, AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
            foreach (var l in listeners) await l.PauseChangedAsync(agent, result.Paused, ct).ConfigureAwait(false);
            return result;
        });
}

/// <summary>Something that follows pauses (the scheduler suspends the agent's jobs).</summary>
public interface IPauseListener
{
    /// <summary>The agent is now paused (<paramref name="paused"/>) or resumed; called after the pause is durable, also when it did not change.</summary>
    Task PauseChangedAsync(AgentName agent, bool paused, CancellationToken ct);
}
