using System.Globalization;
using KruxOS.Core.Errors;

namespace KruxOS.Sandbox;

/// <summary>Structured errors raised by the sandbox itself (not by a capability's own logic).</summary>
public static class SandboxErrors
{
    /// <summary>A sandbox or process hit a cgroup limit (spec §9.3): <c>ResourceExhausted{resource, limit}</c>.</summary>
    public static StructuredError ResourceExhausted(string resource, string limit, string current) =>
        StructuredError.Create("ResourceExhausted", $"Resource exhausted: {resource} at {current} (limit: {limit})")
            .WithRecovery("check_usage", "Look at your session's resource usage.", "agent.session")
            .WithRecovery("cleanup", "Use less: smaller inputs, fewer processes, or lower concurrency.")
            .WithContext("resource", resource).WithContext("limit", limit).WithContext("current", current);

    /// <summary>The sandbox could not be set up or is disabled by failure: sandboxed capabilities fail closed.</summary>
    public static StructuredError Unavailable(string reason) =>
        StructuredError.Create("SandboxUnavailable", $"The sandbox cannot confine this call, so it was not run: {reason}")
            .WithRecovery("check_service_status", "The health check 'sandbox-confinement' shows the cause.", "system.health")
            .WithRecovery("contact_admin", "Ask the operator to run 'kruxos sandbox diagnose'.")
            .WithContext("service", "sandbox").WithContext("reason", reason);

    /// <summary>The agent's sandbox was stopped (revoked, killed or paused) while the call was starting or in flight.</summary>
    public static StructuredError Stopped(string agent) =>
        StructuredError.Create("SandboxUnavailable", $"The sandbox of agent '{agent}' was stopped by the operator (revoke, kill or pause); nothing further runs for it")
            .WithRecovery("contact_admin", "Ask the operator whether the agent was revoked or paused.")
            .WithContext("service", "sandbox").WithContext("reason", "agent stopped");

    /// <summary>The worker died for a reason other than the memory limit.</summary>
    public static StructuredError Crashed(string detail) =>
        StructuredError.Create("SandboxCrashed", $"The sandbox process ended unexpectedly ({detail}); it is restarted for the next call", retryable: true)
            .RetryAfter(1)
            .WithRecovery("retry", "Call again; if it keeps failing, the input is probably too large.")
            .WithContext("detail", detail);

    internal static string Bytes(long bytes) => bytes % (1024 * 1024) == 0
        ? (bytes / (1024 * 1024)).ToString(CultureInfo.InvariantCulture) + " MiB"
        : bytes.ToString(CultureInfo.InvariantCulture) + " bytes";
}
