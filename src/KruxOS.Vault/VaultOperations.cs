using System.Collections.Immutable;
using KruxOS.Core.Vault;
using static KruxOS.Core.Vault.VaultCommands;

namespace KruxOS.Vault;

/// <summary>A command ready to be decided and persisted, or the reason it could not be prepared.</summary>
public sealed record PreparedCommand(IVaultCommand? Command, VaultResult? Refusal)
{
    /// <summary>True when <see cref="Command"/> is set.</summary>
    public bool IsReady => Command is not null;

    internal static PreparedCommand Refuse(VaultResultCode code, string message) => new(null, new VaultResult(code, message));
}

/// <summary>
/// Turns an operator's or a component's request with a plaintext value into a command carrying only ciphertext:
/// validates and normalises the name and scopes, takes the version the state expects next, and seals the value under
/// the record's associated data with a fresh nonce. The actor then runs
/// <see cref="VaultStateExtensions.ProcessCommand"/>, which checks everything again, and persists the events.
/// The plaintext span is only read; the caller zeroes its own buffer.
/// </summary>
public static class VaultOperations
{
    /// <summary>Prepares <c>kruxos vault add</c>.</summary>
    public static PreparedCommand Add(VaultState state, VaultKey key, string name, string type, IEnumerable<string>? allowedCapabilities,
        IEnumerable<string>? allowedHosts, ReadOnlySpan<byte> value, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(key);
        if (!state.IsInitialized) return PreparedCommand.Refuse(VaultResultCode.NotInitialized, "the vault is not initialised");
        if (!SecretName.TryParseOperatorName(name, out var secretName, out var nameError)) return PreparedCommand.Refuse(VaultResultCode.Invalid, nameError);
        if (!SecretTypes.TryParse(type, out var secretType) || !secretType.IsOperatorAddable())
            return PreparedCommand.Refuse(VaultResultCode.Invalid, $"type '{type}' cannot be added by an operator: use api_key or oauth_token");
        if (Scopes(allowedCapabilities, allowedHosts, out var caps, out var hosts) is { } scopeError) return scopeError;
        if (ValueError(value) is { } valueError) return valueError;
        var aad = VaultFormat.RecordAssociatedData(secretName, 1, secretType, caps, hosts);
        return new PreparedCommand(new AddSecret(secretName, secretType, caps, hosts, 1, Seal(key, value, aad), at), null);
    }

    /// <summary>Prepares <c>kruxos vault rotate</c>: a new value for an operator secret, sealed as the next version.</summary>
    public static PreparedCommand Rotate(VaultState state, VaultKey key, string name, ReadOnlySpan<byte> value, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(key);
        if (!state.IsInitialized) return PreparedCommand.Refuse(VaultResultCode.NotInitialized, "the vault is not initialised");
        if (!SecretName.TryParse(name, out var secretName, out _) || state.Find(secretName) is not { } record)
            return PreparedCommand.Refuse(VaultResultCode.NotFound, $"no secret named '{SecretName.Shorten(name ?? string.Empty)}'");
        if (record.Name.IsManaged) return PreparedCommand.Refuse(VaultResultCode.Invalid, $"'{record.Name}' is a managed secret; it is rotated by the component that owns it");
        if (record.IsRevoked) return PreparedCommand.Refuse(VaultResultCode.Conflict, $"'{record.Name}' is revoked and cannot be rotated");
        if (ValueError(value) is { } valueError) return valueError;
        var version = record.Version + 1;
        var aad = VaultFormat.RecordAssociatedData(record.Name, version, record.Type, record.AllowedCapabilities, record.AllowedHosts);
        return new PreparedCommand(new RotateSecret(record.Name, version, Seal(key, value, aad), at), null);
    }

    /// <summary>Prepares a component's store of a managed secret (created, or replaced under the next version).</summary>
    public static PreparedCommand StoreManaged(VaultState state, VaultKey key, ManagedSecretName name, SecretType type,
        IEnumerable<string>? allowedCapabilities, IEnumerable<string>? allowedHosts, ReadOnlySpan<byte> value, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(key);
        if (!state.IsInitialized) return PreparedCommand.Refuse(VaultResultCode.NotInitialized, "the vault is not initialised");
        if (Scopes(allowedCapabilities, allowedHosts, out var caps, out var hosts) is { } scopeError) return scopeError;
        if (ValueError(value) is { } valueError) return valueError;
        var version = state.NextVersion(name.Name);
        var aad = VaultFormat.RecordAssociatedData(name.Name, version, type, caps, hosts);
        return new PreparedCommand(new StoreManagedSecret(name, type, caps, hosts, version, Seal(key, value, aad), at), null);
    }

    private static SealedValue Seal(VaultKey key, ReadOnlySpan<byte> value, byte[] aad) => key.Seal(value, aad);

    private static PreparedCommand? Scopes(IEnumerable<string>? capabilities, IEnumerable<string>? hosts,
        out ImmutableArray<string> caps, out ImmutableArray<string> hostList)
    {
        hostList = [];
        if (!SecretScopes.TryNormalizeCapabilities(capabilities, out caps, out var error)) return PreparedCommand.Refuse(VaultResultCode.Invalid, error);
        if (!SecretScopes.TryNormalizeHosts(hosts, out hostList, out error)) return PreparedCommand.Refuse(VaultResultCode.Invalid, error);
        return null;
    }

    private static PreparedCommand? ValueError(ReadOnlySpan<byte> value) =>
        value.Length is < VaultFormat.MinValueBytes or > VaultFormat.MaxValueBytes
            ? PreparedCommand.Refuse(VaultResultCode.Invalid, $"the value must be {VaultFormat.MinValueBytes} to {VaultFormat.MaxValueBytes} bytes")
            : null;
}
