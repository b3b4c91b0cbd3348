using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Calls;

/// <summary>How a submitter waits for a call that needs human approval.</summary>
public enum CallMode
{
    /// <summary>The call is held until the approval is decided, then runs (MCP; a scheduled job).</summary>
    Held,

    /// <summary>A call needing approval is answered at once with <c>ApprovalPending</c> and the request id; the caller polls (<c>/rpc</c>).</summary>
    Poll,

    /// <summary>The pipeline decides, files approvals and audits, but never executes: the client runs its own tool (<c>/api/hook/decide</c>).</summary>
    DecideOnly,
}

/// <summary>
/// One call as a submitter hands it to the <see cref="CallDispatcher"/>: who calls, for which agent and session,
/// what, and how the submitter waits (<see cref="Mode"/>). Every edge (MCP, <c>/rpc</c>, the hook endpoint) and
/// every in-process submitter (the scheduler, the dashboard) builds one of these; nobody builds a
/// <see cref="ToolCall"/> by hand. The principal is the authenticated caller, never a value read from the call.
/// </summary>
/// <param name="Principal">Who calls, as authenticated by the submitter.</param>
/// <param name="Agent">The agent whose session entity handles the call.</param>
/// <param name="SessionId">The session the call belongs to.</param>
/// <param name="Capability">The capability or tool name as the caller sent it (dotted, <c>__</c> or <c>_</c> form).</param>
/// <param name="Arguments">The raw arguments object (malformed text is refused by <see cref="ToToolCall"/>).</param>
/// <param name="Client">Client attribution.</param>
/// <param name="Mode">How the submitter waits for an approval.</param>
/// <param name="IdempotencyKey">A validated key: a re-sent call with it is answered from the record instead of running twice.</param>
/// <param name="NativeTool">The client's own tool a decide-only call stands for (e.g. <c>Bash</c>): required for, and only
/// for, <see cref="CallMode.DecideOnly"/>.</param>
/// <param name="EdgeRefusal">A refusal the submitter decided before the pipeline; the session audits and answers it.</param>
/// <param name="Trigger">For an in-process submitter (the scheduler): what started the call, recorded in its audit entry.</param>
/// <param name="Reattach">The approval a re-sent held call names (ADR 0058; MCP <c>params._meta["kruxos/approval_id"]</c>): a hint the
/// session checks against the approval's request, never a way around policy.</param>
/// <exception cref="ArgumentException">The mode and <paramref name="NativeTool"/> disagree, or the mode is undefined.</exception>
public sealed record CallSubmission(Principal Principal, AgentName Agent, string SessionId, string Capability, JsonElement Arguments, ClientInfo Client,
    CallMode Mode, string? IdempotencyKey = null, string? NativeTool = null, StructuredError? EdgeRefusal = null, CallTrigger? Trigger = null,
    Core.Approvals.ApprovalId? Reattach = null)
{
    /// <inheritdoc cref="CallSubmission" path="/param[@name='Mode']"/>
    public CallMode Mode { get; } = Enum.IsDefined(Mode) ? Mode : throw new ArgumentOutOfRangeException(nameof(Mode), Mode, "unknown call mode");

    /// <inheritdoc cref="CallSubmission" path="/param[@name='NativeTool']"/>
    // Get-only with Mode, so no `with` can pull them apart. A decide-only call without a native tool would be executed
    // by the gateway; a native tool on an executing call would silently turn it into a decision. Both are submitter bugs.
    public string? NativeTool { get; } = (Mode, NativeTool) switch
    {
        (CallMode.DecideOnly, null or "") => throw new ArgumentException("a DecideOnly submission must name the native tool it stands for", nameof(NativeTool)),
        (not CallMode.DecideOnly, not null) => throw new ArgumentException($"only a DecideOnly submission names a native tool (mode {Mode})", nameof(NativeTool)),
        _ => NativeTool,
    };

    /// <summary>
    /// The call as the pipeline carries it: held iff <see cref="CallMode.Held"/>, decide-only iff
    /// <see cref="CallMode.DecideOnly"/>, with malformed argument text repaired and refused
    /// (<see cref="ToolCall.WithCheckedText"/>) whatever the submitter.
    /// </summary>
    public ToolCall ToToolCall() =>
        new ToolCall(Principal, Agent, SessionId, Capability, Arguments, Client, IdempotencyKey,
            HoldForApproval: Mode == CallMode.Held, NativeTool: NativeTool, EdgeRefusal: EdgeRefusal, Trigger: Trigger,
            Reattach: Reattach).WithCheckedText();
}
