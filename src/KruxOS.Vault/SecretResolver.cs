using KruxOS.Core.Errors;
using KruxOS.Core.Vault;

namespace KruxOS.Vault;

/// <summary>
/// One resolution of a secret: the decision (which the audit records, granted or not) and, when granted, the opened
/// value. Dispose it when the request is done; that zeroes the value.
/// </summary>
public sealed class SecretResolution : IDisposable
{
    internal SecretResolution(SecretUseRequest request, SecretUseDecision decision, SecretValue? value)
    {
        Request = request;
        Decision = decision;
        Value = value;
    }

    /// <summary>What was asked.</summary>
    public SecretUseRequest Request { get; }

    /// <summary>The decision; <see cref="SecretUseDecision.AgentError"/> is what the agent may see when refused.</summary>
    public SecretUseDecision Decision { get; }

    /// <summary>The value when granted; null otherwise.</summary>
    public SecretValue? Value { get; }

    /// <summary>True when granted (and <see cref="Value"/> is set).</summary>
    public bool Granted => Value is not null;

    /// <summary>The audit fields of this resolution: who asked for what, the outcome and why, never the value.</summary>
    public SecretUseAudit Audit => new(Request.Capability.Value, Request.Name, Request.Destination?.Host, Decision.Outcome.ToWire(),
        Decision.Granted, Decision.Reason);

    /// <summary>
    /// The same request refused after the fact, e.g. because its audit entry could not be written: the value (if any) is
    /// zeroed here and the returned resolution carries only the refusal.
    /// </summary>
    public SecretResolution RefuseAfter(SecretUseOutcome outcome, string reason, StructuredError agentError)
    {
        ArgumentNullException.ThrowIfNull(reason);
        ArgumentNullException.ThrowIfNull(agentError);
        if (outcome == SecretUseOutcome.Granted) throw new ArgumentException("a refusal cannot be granted", nameof(outcome));
        Dispose();
        return new SecretResolution(Request, new SecretUseDecision(outcome, reason, agentError, null), null);
    }

    /// <summary>Zeroes the value.</summary>
    public void Dispose() => Value?.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"SecretResolution({Decision.Outcome.ToWire()})";
}

/// <summary>The fields of the audit entry for one resolution (spec §10.3: agent, capability, secret name, host — never the value).</summary>
/// <param name="Capability">The capability that asked.</param>
/// <param name="SecretName">The name it asked for (as given).</param>
/// <param name="Host">The destination host, when the value was to be sent somewhere.</param>
/// <param name="Outcome">The <see cref="SecretUseOutcome"/> wire name.</param>
/// <param name="Granted">Whether it was granted.</param>
/// <param name="Reason">Why, in words.</param>
public sealed record SecretUseAudit(string Capability, string SecretName, string? Host, string Outcome, bool Granted, string Reason);

/// <summary>
/// Resolves a secret for a use: the pure decision (<see cref="SecretUse.Decide"/>), then, when granted, opening the
/// current version under the associated data rebuilt from the record's metadata. A record whose ciphertext does not
/// authenticate (a tampered or swapped journal entry, a widened scope) is refused as
/// <see cref="SecretUseOutcome.IntegrityFailure"/>; the agent sees the same <c>SecretNotFound</c> as for any refusal.
/// </summary>
public static class SecretResolver
{
    /// <summary>Resolves. <paramref name="key"/> is the node's master key, or null while the vault is locked.</summary>
    public static SecretResolution Resolve(VaultState state, VaultKey? key, SecretUseRequest request)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(request);
        var decision = SecretUse.Decide(state, key?.IsUnlocked == true, request);
        if (!decision.Granted) return new SecretResolution(request, decision, null);
        var record = decision.Record!;
        SecretBytes? plain;
        try { plain = key!.Open(record.Value, record.AssociatedData()); }
        catch (VaultLockedException)
        {
            // Locked between the decision and the open.
            return new SecretResolution(request, new SecretUseDecision(SecretUseOutcome.VaultLocked, "the vault is locked", VaultErrors.VaultLocked(), null), null);
        }
        if (plain is null)
            return new SecretResolution(request, new SecretUseDecision(SecretUseOutcome.IntegrityFailure,
                $"version {record.Version} of the record failed authentication (tampered or moved ciphertext, or changed metadata)",
                VaultErrors.SecretNotFound(request.Name), null), null);
        return new SecretResolution(request, decision, new SecretValue(plain));
    }
}
