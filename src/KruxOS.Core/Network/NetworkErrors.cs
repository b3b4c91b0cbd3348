using KruxOS.Core.Errors;

namespace KruxOS.Core.Network;

/// <summary>The capability errors of the network category (spec §8.10, §16.2), worded once.</summary>
public static class NetworkErrors
{
    /// <summary>The egress policy does not allow the destination.</summary>
    public static StructuredError DomainNotAllowed(string host, string reason) =>
        StructuredError.Create("DomainNotAllowed", $"Domain '{host}' is not allowed: {reason}")
            .WithRecovery("check_policy", "Review the network allowlist that applies to you.", "agent.policy")
            .WithRecovery("request_access", "Ask the operator to add the domain to network.allowed_domains.")
            .WithContext("domain", host).WithContext("reason", reason);

    /// <summary>The URL is malformed or not http(s).</summary>
    public static StructuredError InvalidUrl(string reason) =>
        StructuredError.Create("InvalidUrl", $"Invalid URL: {reason}")
            .WithRecovery("fix_input", "Send an absolute http:// or https:// URL.")
            .WithContext("reason", reason);

    /// <summary>For a credentialed request: the destination host is not allowed for this agent (decided before any secret is looked at).</summary>
    public static StructuredError HostNotAllowed(string host, string reason) =>
        StructuredError.Create("HostNotAllowed", $"Host '{host}' is not allowed: {reason}")
            .WithRecovery("check_policy", "Review the network allowlist that applies to you.", "agent.policy")
            .WithContext("host", host).WithContext("reason", reason);

    /// <summary>The request could not be completed (connection, TLS, redirects, size).</summary>
    public static StructuredError RequestFailed(string reason, bool retryable = false) =>
        StructuredError.Create("RequestFailed", $"Request failed: {reason}", retryable)
            .WithRecovery("retry", "Check the URL and try again.")
            .WithContext("reason", reason);
}
