using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Policy;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.ToolRuns;

/// <summary>
/// Everything a ToolRun needs, decided by the session before the run starts: either a refusal found
/// at the boundary (unknown capability, invalid input), or the resolved capability with its
/// normalized arguments and policy verdict.
/// </summary>
public sealed record ToolRunPlan(
    ToolCall Call,
    SessionSnapshot Session,
    IActorRef ReplyTo,
    CapabilityDefinition? Capability,
    JsonElement Arguments,
    PolicyVerdict? Verdict,
    StructuredError? BoundaryError);

/// <summary>Tells the session a run has ended.</summary>
public sealed record ToolRunFinished(string Capability, bool Succeeded, long DurationMicros);

/// <summary>Settings of the execution stage.</summary>
/// <param name="ExecutionTimeout">Longest an in-process capability may run before the call fails with <c>Timeout</c>.</param>
/// <param name="AuditTimeout">Longest the run waits for the audit seam before failing closed.</param>
public sealed record ToolRunSettings(TimeSpan ExecutionTimeout, TimeSpan AuditTimeout)
{
    public static readonly ToolRunSettings Default = new(TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10));
}
