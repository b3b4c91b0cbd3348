using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;
using KruxOS.Core.Policy;

namespace KruxOS.Core.Vault;

/// <summary>The capability errors of the vault (spec §8.13, §16.2), worded once.</summary>
public static class VaultErrors
{
    /// <summary>The vault is locked (or not initialised): nothing that needs a secret can run.</summary>
    public static StructuredError VaultLocked() =>
        StructuredError.Create("VaultLocked", "The secrets vault is locked; nothing that needs a secret can run until the operator unlocks it.", retryable: true)
            .RetryAfter(60)
            .WithRecovery("retry_later", "Try again after the operator has unlocked the vault ('kruxos vault unlock').")
            .WithRecovery("check_service_status", "Check gateway health.", "system.health");

    /// <summary>
    /// The secret cannot be used for this call. Deliberately the same for a secret that does not exist, is revoked,
    /// or is not allowed for this capability or host, so the answer reveals nothing about which secrets exist.
    /// </summary>
    public static StructuredError SecretNotFound(string name) =>
        StructuredError.Create("SecretNotFound", $"No usable secret named '{SecretName.Shorten(name)}' for this call.")
            .WithRecovery("list_secrets", "List the secrets available to you.", "secrets.list")
            .WithRecovery("request_access", "Ask the operator to add the secret or allow it for this capability and host.")
            .WithContext("secret_name", SecretName.Shorten(name));

    /// <summary>The vault failed internally (e.g. a record failed its integrity check).</summary>
    public static StructuredError VaultError(string reason) =>
        StructuredError.Create("VaultError", $"The secrets vault failed: {reason}")
            .WithRecovery("retry_later", "Try again later; the operator can see details in the gateway log.");
}

/// <summary>The outcome of a secret resolution, as the audit records it. The agent sees far less (<see cref="SecretUseDecision.AgentError"/>).</summary>
public enum SecretUseOutcome
{
    /// <summary>Granted: the value may be used for this call.</summary>
    Granted,
    /// <summary>The agent's egress policy refuses the destination (decided before the secret is looked at).</summary>
    EgressDenied,
    /// <summary>The vault is locked or not initialised.</summary>
    VaultLocked,
    /// <summary>No secret has this name.</summary>
    Absent,
    /// <summary>The secret is revoked.</summary>
    Revoked,
    /// <summary>The secret's <c>allowed_capabilities</c> is empty (unusable by default).</summary>
    NoCapabilitiesListed,
    /// <summary>The calling capability is not in <c>allowed_capabilities</c>.</summary>
    CapabilityNotAllowed,
    /// <summary>The secret's <c>allowed_hosts</c> is empty (unusable for requests by default).</summary>
    NoHostsListed,
    /// <summary>The destination host is not in <c>allowed_hosts</c>.</summary>
    HostNotAllowed,
    /// <summary>The record failed authentication when opened (tampered journal, wrong key).</summary>
    IntegrityFailure,
    /// <summary>The resolution could not be recorded in the audit log, so it was refused (fail closed).</summary>
    AuditUnavailable,
}

/// <summary>Wire names of <see cref="SecretUseOutcome"/> for audit entries.</summary>
public static class SecretUseOutcomes
{
    /// <summary><c>granted</c>, <c>egress_denied</c>, <c>vault_locked</c>, <c>absent</c>, <c>revoked</c>, <c>no_capabilities</c>,
    /// <c>capability_not_allowed</c>, <c>no_hosts</c>, <c>host_not_allowed</c>, <c>integrity_failure</c>, <c>audit_unavailable</c>.</summary>
    public static string ToWire(this SecretUseOutcome o) => o switch
    {
        SecretUseOutcome.Granted => "granted",
        SecretUseOutcome.EgressDenied => "egress_denied",
        SecretUseOutcome.VaultLocked => "vault_locked",
        SecretUseOutcome.Absent => "absent",
        SecretUseOutcome.Revoked => "revoked",
        SecretUseOutcome.NoCapabilitiesListed => "no_capabilities",
        SecretUseOutcome.CapabilityNotAllowed => "capability_not_allowed",
        SecretUseOutcome.NoHostsListed => "no_hosts",
        SecretUseOutcome.HostNotAllowed => "host_not_allowed",
        SecretUseOutcome.AuditUnavailable => "audit_unavailable",
        _ => "integrity_failure",
    };
}

/// <summary>Where a secret would be sent, with the agent's egress decision for that destination.</summary>
/// <param name="Host">The normalised destination host.</param>
/// <param name="HostKind">DNS name or address.</param>
/// <param name="EgressAllowed">Whether the agent's egress policy allows the destination.</param>
/// <param name="EgressReason">The egress decision's reason (for the audit).</param>
public sealed record SecretDestination(string Host, HostKind HostKind, bool EgressAllowed, string EgressReason)
{
    /// <summary>The destination of an egress decision (its target must have been parsed).</summary>
    public static SecretDestination From(EgressDecision egress)
    {
        ArgumentNullException.ThrowIfNull(egress);
        var target = egress.Target ?? throw new ArgumentException("the egress decision has no target (invalid URL)", nameof(egress));
        return new(target.Host, target.HostKind, egress.Allowed, egress.Reason);
    }
}

/// <summary>A request to use a secret.</summary>
/// <param name="Name">The name as the caller gave it (untrusted).</param>
/// <param name="Capability">The capability that wants to use it.</param>
/// <param name="Destination">Where the value would be sent; null for a use that sends it nowhere (then <c>allowed_hosts</c> is not consulted).</param>
public sealed record SecretUseRequest(string Name, CapabilityName Capability, SecretDestination? Destination);

/// <summary>The decision about one use of a secret.</summary>
/// <param name="Outcome">What the audit records.</param>
/// <param name="Reason">The audit's reason, in words; never a value.</param>
/// <param name="AgentError">What the agent gets when refused; null when granted.</param>
/// <param name="Record">The record to open when granted.</param>
public sealed record SecretUseDecision(SecretUseOutcome Outcome, string Reason, StructuredError? AgentError, SecretRecord? Record)
{
    /// <summary>True when the value may be used.</summary>
    public bool Granted => Outcome == SecretUseOutcome.Granted;
}

/// <summary>
/// "Use, never read": the pure decision whether a capability may use a secret for a destination (spec §10.3).
/// The order makes every refusal that concerns the secret itself indistinguishable to the agent:
/// <list type="number">
/// <item>the destination's egress decision (independent of the secret) → <c>HostNotAllowed</c>;</item>
/// <item>a locked or uninitialised vault (independent of the secret) → <c>VaultLocked</c>;</item>
/// <item>absent, revoked, capability not allowed (or none listed), host not allowed (or none listed) → one and the
/// same <c>SecretNotFound</c>, while the audit reason tells them apart.</item>
/// </list>
/// </summary>
public static class SecretUse
{
    /// <summary>Decides a use. <paramref name="unlocked"/> says whether the node holds the master key.</summary>
    public static SecretUseDecision Decide(VaultState state, bool unlocked, SecretUseRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var capability = request.Capability.Value;
        if (request.Destination is { EgressAllowed: false } blocked)
            return Refused(SecretUseOutcome.EgressDenied, $"egress to '{blocked.Host}' refused: {blocked.EgressReason}",
                NetworkErrors.HostNotAllowed(blocked.Host, blocked.EgressReason));
        if (!unlocked || !state.IsInitialized)
            return Refused(SecretUseOutcome.VaultLocked, state.IsInitialized ? "the vault is locked" : "the vault is not initialised", VaultErrors.VaultLocked());

        var notFound = VaultErrors.SecretNotFound(request.Name);
        if (!SecretName.TryParse(request.Name, out var name, out _) || state.Find(name) is not { } record)
            return Refused(SecretUseOutcome.Absent, "no secret has this name", notFound);
        if (record.IsRevoked)
            return Refused(SecretUseOutcome.Revoked, $"revoked at {record.RevokedAt:O}", notFound);
        if (record.AllowedCapabilities.IsDefaultOrEmpty)
            return Refused(SecretUseOutcome.NoCapabilitiesListed, "allowed_capabilities is empty", notFound);
        if (!record.AllowedCapabilities.Any(p => CapabilityPattern.TryParse(p, out var pattern, out _) && pattern.Matches(capability)))
            return Refused(SecretUseOutcome.CapabilityNotAllowed, $"'{capability}' is not in allowed_capabilities", notFound);
        if (request.Destination is { } destination)
        {
            if (record.AllowedHosts.IsDefaultOrEmpty)
                return Refused(SecretUseOutcome.NoHostsListed, "allowed_hosts is empty", notFound);
            if (!record.AllowedHosts.Any(h => HostPattern.TryParse(h, out var pattern, out _) && pattern.Matches(destination.Host, destination.HostKind)))
                return Refused(SecretUseOutcome.HostNotAllowed, $"'{destination.Host}' is not in allowed_hosts", notFound);
        }
        return new SecretUseDecision(SecretUseOutcome.Granted,
            request.Destination is { } d ? $"allowed for '{capability}' to '{d.Host}'" : $"allowed for '{capability}'", null, record);
    }

    private static SecretUseDecision Refused(SecretUseOutcome outcome, string reason, StructuredError error) => new(outcome, reason, error, null);
}
