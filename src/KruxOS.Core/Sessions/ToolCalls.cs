using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Sessions;

/// <summary>The client program on the other end of a connection.</summary>
/// <param name="Name">From MCP <c>clientInfo.name</c> (sanitized by <see cref="ClientAttribution.FromInitialize"/>).</param>
/// <param name="Version">From MCP <c>clientInfo.version</c>.</param>
/// <param name="Cli">The initiating CLI named by the connection's <c>X-KruxOS-Client</c> header (e.g. <c>claude-code</c>, <c>codex</c>), if any.</param>
[WireName("session.client-info.v1")]
public sealed record ClientInfo(string Name, string Version, string? Cli = null) : IKruxMessage
{
    /// <summary>Used when the client did not say.</summary>
    public static readonly ClientInfo Unknown = new("unknown", "");

    /// <summary>The initiating client as shown to operators: the CLI attribution when there is one, else the <c>clientInfo</c> name.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public string Initiating => Cli ?? Name;
}

/// <summary>
/// One capability call as it enters the pipeline, after authentication and before any decision.
/// </summary>
/// <param name="Principal">Who calls (authenticated at the edge).</param>
/// <param name="Agent">The agent whose session entity handles the call (for a user principal, the agent the bridge acts for).</param>
/// <param name="SessionId">The connection's session id (<c>sess-…</c>).</param>
/// <param name="RequestedName">The tool or capability name as sent (dotted, <c>__</c> or <c>_</c> form).</param>
/// <param name="Arguments">The raw arguments object.</param>
/// <param name="Client">Client attribution.</param>
/// <param name="IdempotencyKey">Set by bridges so a re-sent call is answered from the record instead of running twice.</param>
/// <param name="HoldForApproval">True (MCP): a call needing approval is held until decided. False (JSON-RPC): it is answered at once with <c>ApprovalPending</c> and the request id.</param>
/// <param name="NativeTool">Set for a client's PreToolUse hook (cli-hook): the client's own tool this call stands for
/// (e.g. <c>Bash</c>, <c>apply_patch</c>). The pipeline decides, holds approvals and audits exactly as for a real
/// call, but never executes: an allowed call is answered with <c>{"decision":"allow"}</c> and the client runs its
/// own tool.</param>
/// <param name="EdgeRefusal">A refusal the edge decided before the pipeline (an invalid idempotency key, an expired
/// <c>/rpc</c> session). The session answers it without resolving, deciding or running anything, and audits it like
/// any refusal at the boundary.</param>
/// <param name="Trigger">What started a call no client sent (a scheduled job's run): recorded in its audit entry.</param>
/// <param name="Reattach">The approval a re-sent held call names (<c>params._meta["kruxos/approval_id"]</c>, ADR 0058): it waits on
/// exactly that approval if the approval was requested for the identical call; policy decides the call again either way.</param>
/// <param name="ReportHold">The submitter wants to hear which session entity has the call (<c>CallAccepted</c>), which approval it
/// waits on (<c>CallHeld</c>) and when it leaves that hold to run (<c>CallReleased</c>), so that if the session goes away it can
/// re-attach a held call itself, or answer a call that may have run at once (the gateway's own edges).</param>
[WireName("session.tool-call.v1")]
public sealed record ToolCall(
    Principal Principal,
    AgentName Agent,
    string SessionId,
    string RequestedName,
    JsonElement Arguments,
    ClientInfo Client,
    string? IdempotencyKey = null,
    bool HoldForApproval = true,
    string? NativeTool = null,
    StructuredError? EdgeRefusal = null,
    CallTrigger? Trigger = null,
    Approvals.ApprovalId? Reattach = null,
    bool ReportHold = false) : IKruxMessage, IWithAgentName
{
    /// <summary>True when the pipeline only decides (a PreToolUse hook) and the client runs its own tool.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public bool DecideOnly => NativeTool is not null;

    /// <summary>
    /// This call as the pipeline can carry it: when a string or property name of its arguments is not well-formed
    /// text (<see cref="ArgumentText"/>), the arguments are <see cref="ArgumentText.Repair">repaired</see> (so they
    /// can be serialized, hashed and audited) and the call is refused with <c>InvalidInput</c> naming the field,
    /// unless another refusal was already decided. A well-formed call is returned as it is.
    /// </summary>
    public ToolCall WithCheckedText()
    {
        if (ArgumentText.Find(Arguments) is not { } malformed) return this;
        return this with
        {
            Arguments = ArgumentText.Repair(Arguments),
            EdgeRefusal = EdgeRefusal ?? Errors.Errors.InvalidInput(malformed.Field, malformed.Reason),
        };
    }
}

/// <summary>The answer to a <see cref="ToolCall"/>: data on success, a structured error otherwise.</summary>
[WireName("session.tool-call-result.v1")]
public sealed record ToolCallResult(
    string Capability,
    JsonElement? Data,
    StructuredError? Error,
    Tier? Tier,
    long DurationMicros) : IKruxMessage
{
    /// <summary>True when the call failed or was refused.</summary>
    public bool IsError => Error is not null;

    public static ToolCallResult Success(CapabilityName capability, JsonElement data, Tier tier, long durationMicros) =>
        new(capability.Value, data, null, tier, durationMicros);

    public static ToolCallResult Failure(string capability, StructuredError error, Tier? tier, long durationMicros) =>
        new(capability, null, error, tier, durationMicros);
}

/// <summary>What started a call in the gateway itself: <c>schedule</c> (a cron job) or <c>delay</c>, and the job (<c>metadata.details.trigger</c>, <c>job_id</c>).</summary>
[WireName("session.call-trigger.v1")]
public sealed record CallTrigger(string Kind, string JobId) : IKruxMessage;
