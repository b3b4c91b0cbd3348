using System.Collections.Immutable;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.Vault;

/// <summary>
/// Marker for persisted vault events. They hold ciphertext, nonces, the salt, the verifier and metadata,
/// never a value or a key, so the journal (SQLite or a shared PostgreSQL) can be read by anyone without
/// revealing a secret (ADR 0033). Every event carries the time it was decided.
/// </summary>
public interface IVaultEvent : IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>Persisted vault events (never deleted: a secret's history is part of the audit story).</summary>
public static class VaultEvents
{
    /// <summary>The vault was initialised.</summary>
    [WireName("vault.initialized.v1")]
    public sealed record VaultInitialized(VaultHeader Header) : IVaultEvent
    {
        /// <inheritdoc />
        public DateTimeOffset At => Header.InitializedAt;
    }

    /// <summary>An operator added a secret.</summary>
    [WireName("vault.secret-added.v1")]
    public sealed record SecretAdded(SecretName Name, SecretType Type, ImmutableArray<string> AllowedCapabilities,
        ImmutableArray<string> AllowedHosts, int Version, SealedValue Value, DateTimeOffset At) : IVaultEvent
    {
        /// <summary>Content equality (lists by value).</summary>
        public bool Equals(SecretAdded? other) =>
            other is not null && Name == other.Name && Type == other.Type && AllowedCapabilities.SequenceEqual(other.AllowedCapabilities)
            && AllowedHosts.SequenceEqual(other.AllowedHosts) && Version == other.Version && Value == other.Value && At == other.At;

        /// <inheritdoc />
        public override int GetHashCode() => HashCode.Combine(Name, Version, At);
    }

    /// <summary>An operator replaced a secret's value.</summary>
    [WireName("vault.secret-rotated.v1")]
    public sealed record SecretRotated(SecretName Name, int Version, SealedValue Value, DateTimeOffset At) : IVaultEvent;

    /// <summary>A gateway component stored a managed secret (created or replaced).</summary>
    [WireName("vault.managed-secret-stored.v1")]
    public sealed record ManagedSecretStored(ManagedSecretName Name, SecretType Type, ImmutableArray<string> AllowedCapabilities,
        ImmutableArray<string> AllowedHosts, int Version, SealedValue Value, DateTimeOffset At) : IVaultEvent
    {
        /// <summary>Content equality (lists by value).</summary>
        public bool Equals(ManagedSecretStored? other) =>
            other is not null && Name == other.Name && Type == other.Type && AllowedCapabilities.SequenceEqual(other.AllowedCapabilities)
            && AllowedHosts.SequenceEqual(other.AllowedHosts) && Version == other.Version && Value == other.Value && At == other.At;

        /// <inheritdoc />
        public override int GetHashCode() => HashCode.Combine(Name, Version, At);
    }

    /// <summary>A secret was revoked.</summary>
    [WireName("vault.secret-revoked.v1")]
    public sealed record SecretRevoked(SecretName Name, string Reason, DateTimeOffset At) : IVaultEvent;

    /// <summary>A secret was marked as needing attention.</summary>
    [WireName("vault.secret-flagged.v1")]
    public sealed record SecretFlagged(SecretName Name, string Reason, DateTimeOffset At) : IVaultEvent;
}
