using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Errors;

/// <summary>Factories for the platform errors of spec §16.1, so every surface words them the same way.</summary>
public static class Errors
{
    /// <summary>Maximum authentication failures per address per minute before <c>auth.rate_limited</c>.</summary>
    public const int AuthFailuresPerMinute = 10;

    public static StructuredError InvalidCredentials() =>
        StructuredError.Create("auth.invalid_credentials", "Invalid agent name or API key.")
            .WithRecovery("check_credentials", "Check the agent name and token; tokens are shown once by 'kruxos agent create'.");

    public static StructuredError AgentRevoked(string agent) =>
        StructuredError.Create("auth.agent_revoked", $"Agent '{agent}' has been revoked.")
            .WithRecovery("contact_admin", "Ask the operator to restore the agent ('kruxos agent restore').")
            .WithRecovery("create_new_agent", "Create a new agent identity.")
            .WithContext("agent", agent);

    /// <summary>
    /// No token at all. Reported as <c>auth.invalid_credentials</c> (the issue's <c>auth.*</c> family, so a client
    /// handles every credential refusal alike) with a message that says what was missing.
    /// </summary>
    public static StructuredError MissingCredentials() =>
        StructuredError.Create("auth.invalid_credentials", "No credentials were sent: send 'Authorization: Bearer <token>' or '?token=<token>'.")
            .WithRecovery("check_credentials", "Send the agent token (or user token) with the request; tokens are shown once by 'kruxos agent create'.")
            .WithContext("reason", "missing");

    public static StructuredError UserTokenRevoked() =>
        StructuredError.Create("auth.user_token_revoked", "This user token has been revoked.")
            .WithRecovery("create_token", "Create a new user token with 'kruxos user-token create'.");

    public static StructuredError AuthRateLimited(int retryAfterSeconds) =>
        StructuredError.Create("auth.rate_limited", $"Too many authentication attempts. Max {AuthFailuresPerMinute} per minute.", retryable: true)
            .RetryAfter(retryAfterSeconds)
            .WithRecovery("wait_and_retry", $"Wait {retryAfterSeconds} seconds before trying again.");

    public static StructuredError SessionNotInitialized() =>
        StructuredError.Create("SessionNotInitialized", "Session not initialized")
            .WithRecovery("initialize", "Send 'initialize' before any other request.");

    public static StructuredError SessionTerminated(string agent, string reason) =>
        StructuredError.Create("SessionExpired", $"Session of agent '{agent}' was terminated: {reason}")
            .WithRecovery("reconnect", "Reconnect; if the agent was revoked, ask the operator.")
            .WithContext("agent", agent);

    public static StructuredError InvalidInput(string field, string reason) =>
        StructuredError.Create("InvalidInput", $"Invalid input: field '{field}' -- {reason}")
            .WithRecovery("fix_input", "Correct the named field and call again.")
            .WithContext("field", field).WithContext("reason", reason);

    public static StructuredError UnknownCapability(string name) =>
        StructuredError.Create("CapabilityNotFound", $"Unknown capability '{name}'.")
            .WithRecovery("list_capabilities", "List the capabilities available to you.", "agent.capabilities")
            .WithContext("capability", name);

    public static StructuredError PolicyDenied(CapabilityName capability, string rule, string reason) =>
        StructuredError.Create("PolicyDenied", $"Policy rule '{rule}' denied execution of '{capability}': {reason}")
            .WithRecovery("check_policy", "Review the rules that apply to you.", "agent.policy")
            .WithRecovery("request_escalation", "Ask the operator to change the policy.")
            .WithContext("rule", rule).WithContext("capability", capability.Value).WithContext("reason", reason);

    public static StructuredError RateLimited(int limit, long windowSeconds, long retryAfterSeconds) =>
        StructuredError.Create("RateLimited", $"Rate limited: {limit} requests per {windowSeconds}s exceeded", retryable: true)
            .RetryAfter(retryAfterSeconds)
            .WithRecovery("wait_and_retry", $"Wait {retryAfterSeconds} seconds before calling again.")
            .WithContext("limit", limit).WithContext("window_seconds", windowSeconds).WithContext("retry_after_seconds", retryAfterSeconds);

    public static StructuredError ApprovalPending(string capability, string requestId) =>
        StructuredError.Create("ApprovalPending", $"'{capability}' is waiting for human approval (request '{requestId}').", retryable: true)
            .WithRecovery("poll_approval", "Poll the request with kruxos/checkApproval or approvals.check, then send the identical call again once it is approved.")
            .WithContext("request_id", requestId).WithContext("capability", capability);

    public static StructuredError ApprovalRejected(string capability, string requestId, string reason, string decidedBy) =>
        StructuredError.Create("ApprovalRejected", $"'{capability}' was rejected by {decidedBy}{(reason.Length > 0 ? ": " + reason : "")}. Do not retry it.")
            .WithRecovery("stop", "Stop this chain of actions and tell the user the request was rejected.")
            .WithContext("request_id", requestId).WithContext("reason", reason).WithContext("capability", capability);

    public static StructuredError ApprovalTimedOut(string capability, string requestId) =>
        StructuredError.Create("ApprovalTimedOut", $"Nobody approved '{capability}' before the hold deadline (request '{requestId}'); the call was not run.")
            .WithRecovery("stop", "Stop and ask the user to approve the action, then try again.")
            .WithContext("request_id", requestId).WithContext("capability", capability);

    public static StructuredError ApprovalNotUsable(string capability, string requestId, string status, string message) =>
        StructuredError.Create("ApprovalNotUsable", $"The approval of '{capability}' cannot be used: {message}. The call was not run.")
            .WithRecovery("retry", "Send the call again to ask for a new approval.")
            .WithContext("request_id", requestId).WithContext("status", status).WithContext("capability", capability);

    /// <summary>
    /// The gateway node running a call (its agent's session and the call's run) was lost — removed from the cluster — before
    /// the call was answered: it may or may not have taken effect. Answered at once by the node the client is connected to.
    /// A keyed call may be sent again with the same key: its record answers it, it never runs twice (so it is retryable
    /// then); a call without a key is not retryable, as sending it again could run it twice.
    /// </summary>
    public static StructuredError NodeLostOutcomeUnknown(string capability, string node, string? idempotencyKey)
    {
        var error = StructuredError.Create("OutcomeUnknown",
                $"'{capability}' was running on gateway node {node}, which was lost before the call finished; it may or may not have taken effect.",
                retryable: idempotencyKey is not null)
            .WithRecovery("check_state", "Check whether the action took effect (e.g. read the file or list the resource) before doing it again.")
            .WithContext("capability", capability).WithContext("node", node);
        return idempotencyKey is { } key
            ? error.RetryAfter(1).WithRecovery("same_key", "Send it again with the same idempotency key: it is answered from its record and never runs twice.")
                .WithContext("idempotency_key", key)
            : error.WithRecovery("new_call", "To run it again deliberately, send it as a new call.");
    }

    /// <summary>
    /// A held call lost the session that held it (its node stopped or was killed, or the session restarted) before its
    /// approval released it: nothing ran. Sending the identical call again with <c>params._meta["kruxos/approval_id"]</c>
    /// set to <paramref name="requestId"/> joins that approval (mcp-bridge does so by itself; ADR 0058).
    /// </summary>
    public static StructuredError ApprovalReattach(string capability, string requestId, double retryAfterSeconds = 1) =>
        StructuredError.Create("ApprovalReattach",
                $"'{capability}' is still waiting for approval '{requestId}', but the gateway session that held it went away; it was not run.", retryable: true)
            .RetryAfter(retryAfterSeconds)
            .WithRecovery("reattach", $"Send the identical call again with params._meta[\"{Approvals.ApprovalReattach.MetaField}\"] = \"{requestId}\": it waits on the same approval.")
            .WithContext("request_id", requestId).WithContext("capability", capability);

    public static StructuredError ApprovalUnavailable(CapabilityName capability, string rule) =>
        StructuredError.Create("ApprovalUnavailable",
                $"'{capability}' requires human approval (rule '{rule}'), and no approval queue is available on this gateway; the call was not run.")
            .WithRecovery("request_escalation", "Ask the operator to approve out of band or change the policy.")
            .WithContext("rule", rule).WithContext("capability", capability.Value);

    public static StructuredError Timeout(string operation, double seconds) =>
        StructuredError.Create("Timeout", $"Operation '{operation}' timed out after {seconds:0.###}s", retryable: true)
            .WithRecovery("retry", "Try again.")
            .WithContext("operation", operation).WithContext("timeout_seconds", seconds);

    public static StructuredError Internal(string message) =>
        StructuredError.Create("InternalError", message)
            .WithRecovery("retry_later", "Try again later; the operator can see details in the gateway log.");

    public static StructuredError ServiceUnavailable(string service, string reason) =>
        StructuredError.Create("ServiceUnavailable", $"Service '{service}' is unavailable: {reason}", retryable: true)
            .RetryAfter(60)
            .WithRecovery("retry_later", "Try again later.")
            .WithRecovery("check_service_status", "Check gateway health.", "system.health")
            .WithContext("service", service).WithContext("reason", reason);

    /// <summary>
    /// A retryable <c>ServiceUnavailable</c> of anything but the audit log: a node or session still starting (identities,
    /// pauses, approvals or policy loading) refused the call before it ran, so sending it again is safe. Never the audit
    /// log's: a call whose outcome could not be audited may have run.
    /// </summary>
    public static bool RefusedWhileStarting(StructuredError? error) =>
        error is { ErrorType: "ServiceUnavailable", Retryable: true }
        && !(error.Context.TryGetValue("service", out var service) && service.ValueKind == System.Text.Json.JsonValueKind.String && service.GetString() == "audit");

    public static StructuredError MessageTooLarge(long limit) =>
        StructuredError.Create("MessageTooLarge", $"Message exceeds the {limit} byte limit.")
            .WithRecovery("split_request", "Send smaller requests; read large files with offset/limit.")
            .WithContext("limit", limit);
}
