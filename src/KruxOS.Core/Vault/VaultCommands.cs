using System.Collections.Immutable;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Vault;

/// <summary>
/// Marker for commands decided by <see cref="VaultStateExtensions.ProcessCommand"/>. Commands that store a value
/// carry it sealed: the caller seals it (with the version the state expects next) before the command is decided,
/// so the state machine never sees a plaintext and stays pure.
/// </summary>
public interface IVaultCommand : IKruxMessage
{
    /// <summary>When the command was issued.</summary>
    DateTimeOffset At { get; }
}

/// <summary>Commands of the vault. Every command carries its time; the state function never reads the clock.</summary>
public static class VaultCommands
{
    /// <summary>Initialise an empty vault with its KDF parameters, salt and verifier.</summary>
    [WireName("vault.initialize.v1")]
    public sealed record InitializeVault(VaultHeader Header) : IVaultCommand
    {
        /// <inheritdoc />
        public DateTimeOffset At => Header.InitializedAt;
    }

    /// <summary>
    /// An operator adds a secret (<c>kruxos vault add</c>). The name must be an operator name
    /// (<see cref="SecretName.TryParseOperatorName"/>), the type operator-addable, the lists normalised; the
    /// value is sealed for version 1 under the record's associated data (<see cref="VaultFormat.RecordAssociatedData"/>).
    /// </summary>
    [WireName("vault.add-secret.v1")]
    public sealed record AddSecret(SecretName Name, SecretType Type, ImmutableArray<string> AllowedCapabilities,
        ImmutableArray<string> AllowedHosts, int Version, SealedValue Value, DateTimeOffset At) : IVaultCommand
    {
        /// <summary>Content equality (lists by value).</summary>
        public bool Equals(AddSecret? other) =>
            other is not null && Name == other.Name && Type == other.Type && AllowedCapabilities.SequenceEqual(other.AllowedCapabilities)
            && AllowedHosts.SequenceEqual(other.AllowedHosts) && Version == other.Version && Value == other.Value && At == other.At;

        /// <inheritdoc />
        public override int GetHashCode() => HashCode.Combine(Name, Version, At);
    }

    /// <summary>An operator replaces the value of an operator secret (<c>kruxos vault rotate</c>), sealed for the next version.</summary>
    [WireName("vault.rotate-secret.v1")]
    public sealed record RotateSecret(SecretName Name, int Version, SealedValue Value, DateTimeOffset At) : IVaultCommand;

    /// <summary>Revoke a secret: it stays listed and can never be used again. Allowed for managed names too (it only takes power away).</summary>
    [WireName("vault.revoke-secret.v1")]
    public sealed record RevokeSecret(SecretName Name, string Reason, DateTimeOffset At) : IVaultCommand;

    /// <summary>
    /// A gateway component stores a managed secret (an OAuth token after a connect or refresh, a user token, a model
    /// provider key): created, or replaced under the next version, also after a revocation (a reconnect). The only
    /// way to write a managed name; its type says so.
    /// </summary>
    [WireName("vault.store-managed-secret.v1")]
    public sealed record StoreManagedSecret(ManagedSecretName Name, SecretType Type, ImmutableArray<string> AllowedCapabilities,
        ImmutableArray<string> AllowedHosts, int Version, SealedValue Value, DateTimeOffset At) : IVaultCommand
    {
        /// <summary>Content equality (lists by value).</summary>
        public bool Equals(StoreManagedSecret? other) =>
            other is not null && Name == other.Name && Type == other.Type && AllowedCapabilities.SequenceEqual(other.AllowedCapabilities)
            && AllowedHosts.SequenceEqual(other.AllowedHosts) && Version == other.Version && Value == other.Value && At == other.At;

        /// <inheritdoc />
        public override int GetHashCode() => HashCode.Combine(Name, Version, At);
    }

    /// <summary>Mark a secret as needing attention (a refresh failed, an agent asked for a rotation); a new value clears it.</summary>
    [WireName("vault.flag-secret.v1")]
    public sealed record FlagSecret(SecretName Name, string Reason, DateTimeOffset At) : IVaultCommand;
}

/// <summary>How a vault command was decided.</summary>
public enum VaultResultCode
{
    /// <summary>Accepted (events to persist, or an idempotent repeat).</summary>
    Ok,
    /// <summary>The vault has not been initialised.</summary>
    NotInitialized,
    /// <summary>No such secret.</summary>
    NotFound,
    /// <summary>The state does not allow it: already initialised, name taken, revoked, stale version.</summary>
    Conflict,
    /// <summary>The command is malformed or not allowed for this name.</summary>
    Invalid,
}

/// <summary>The reply to a vault command. Never carries a value.</summary>
[WireName("vault.result.v1")]
public sealed record VaultResult(VaultResultCode Code, string Message) : IKruxMessage
{
    /// <summary>True for <see cref="VaultResultCode.Ok"/>.</summary>
    public bool IsOk => Code == VaultResultCode.Ok;
}
