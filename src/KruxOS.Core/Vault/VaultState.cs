using System.Collections.Immutable;
using KruxOS.Core.Network;
using KruxOS.Core.Policy;
using KruxOS.Core.Serialization;
using static KruxOS.Core.Vault.VaultCommands;
using static KruxOS.Core.Vault.VaultEvents;

namespace KruxOS.Core.Vault;

/// <summary>
/// One secret as the vault keeps it: metadata and the sealed value of its current version. Revoked records stay
/// (listed, never usable).
/// </summary>
[WireName("vault.secret-record.v1")]
public sealed record SecretRecord(
    SecretName Name,
    SecretType Type,
    ImmutableArray<string> AllowedCapabilities,
    ImmutableArray<string> AllowedHosts,
    int Version,
    SealedValue Value,
    DateTimeOffset CreatedAt,
    DateTimeOffset? RotatedAt,
    DateTimeOffset? RevokedAt,
    string? RevokedReason,
    string? NeedsAttention) : IKruxMessage
{
    /// <summary>True once revoked.</summary>
    public bool IsRevoked => RevokedAt is not null;

    /// <summary>The associated data the current value was sealed with (<see cref="VaultFormat.RecordAssociatedData"/>).</summary>
    public byte[] AssociatedData() => VaultFormat.RecordAssociatedData(Name, Version, Type, AllowedCapabilities, AllowedHosts);

    /// <summary>The listing view: everything but the sealed value.</summary>
    public SecretInfo ToInfo() => new(Name.Value, Type, Name.IsManaged, AllowedCapabilities, AllowedHosts, Version, CreatedAt, RotatedAt,
        IsRevoked, RevokedAt, NeedsAttention is not null, NeedsAttention);

    /// <summary>Content equality (lists by value).</summary>
    public bool Equals(SecretRecord? other) =>
        other is not null && Name == other.Name && Type == other.Type && AllowedCapabilities.SequenceEqual(other.AllowedCapabilities)
        && AllowedHosts.SequenceEqual(other.AllowedHosts) && Version == other.Version && Value == other.Value && CreatedAt == other.CreatedAt
        && RotatedAt == other.RotatedAt && RevokedAt == other.RevokedAt && RevokedReason == other.RevokedReason && NeedsAttention == other.NeedsAttention;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Name, Version, RevokedAt);
}

/// <summary>What <c>kruxos vault list</c>, the admin service and <c>secrets.list</c> show of a secret: never a value.</summary>
[WireName("vault.secret-info.v1")]
public sealed record SecretInfo(
    string Name,
    SecretType Type,
    bool Managed,
    ImmutableArray<string> AllowedCapabilities,
    ImmutableArray<string> AllowedHosts,
    int Version,
    DateTimeOffset CreatedAt,
    DateTimeOffset? RotatedAt,
    bool Revoked,
    DateTimeOffset? RevokedAt,
    bool NeedsAttention,
    string? AttentionReason) : IKruxMessage
{
    /// <summary>Content equality (lists by value).</summary>
    public bool Equals(SecretInfo? other) =>
        other is not null && Name == other.Name && Type == other.Type && Managed == other.Managed
        && AllowedCapabilities.SequenceEqual(other.AllowedCapabilities) && AllowedHosts.SequenceEqual(other.AllowedHosts)
        && Version == other.Version && CreatedAt == other.CreatedAt && RotatedAt == other.RotatedAt && Revoked == other.Revoked
        && RevokedAt == other.RevokedAt && NeedsAttention == other.NeedsAttention && AttentionReason == other.AttentionReason;

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Name, Version, Revoked);
}

/// <summary>Normalises and checks a secret's <c>allowed_capabilities</c> and <c>allowed_hosts</c>.</summary>
public static class SecretScopes
{
    /// <summary>
    /// Normalises capability patterns (<c>network.credentialed_request</c>, <c>email.*</c>, <c>*</c>): trimmed,
    /// duplicates dropped, order kept. An empty list is valid and means the secret is unusable.
    /// </summary>
    public static bool TryNormalizeCapabilities(IEnumerable<string>? patterns, out ImmutableArray<string> normalized, out string error)
    {
        var list = ImmutableArray.CreateBuilder<string>();
        error = string.Empty;
        foreach (var p in patterns ?? [])
        {
            if (!CapabilityPattern.TryParse(p, out var pattern, out var why)) { error = $"allowed_capabilities: {why}"; normalized = []; return false; }
            if (!list.Contains(pattern.Text)) list.Add(pattern.Text);
        }
        if (list.Count > VaultFormat.MaxListEntries) { error = $"allowed_capabilities: at most {VaultFormat.MaxListEntries} entries"; normalized = []; return false; }
        normalized = list.ToImmutable();
        return true;
    }

    /// <summary>
    /// Normalises host patterns (an exact host, <c>*.suffix</c>, or <c>*</c> for any host): normalised names,
    /// duplicates dropped, order kept. An empty list is valid and means the secret is unusable for requests.
    /// </summary>
    public static bool TryNormalizeHosts(IEnumerable<string>? patterns, out ImmutableArray<string> normalized, out string error)
    {
        var list = ImmutableArray.CreateBuilder<string>();
        error = string.Empty;
        foreach (var p in patterns ?? [])
        {
            if (!HostPattern.TryParse(p, out var pattern, out var why)) { error = $"allowed_hosts: {why}"; normalized = []; return false; }
            var text = pattern.ToString();
            if (!list.Contains(text)) list.Add(text);
        }
        if (list.Count > VaultFormat.MaxListEntries) { error = $"allowed_hosts: at most {VaultFormat.MaxListEntries} entries"; normalized = []; return false; }
        normalized = list.ToImmutable();
        return true;
    }

    /// <summary>Why the lists are not in normalised form (a sealed value is bound to exactly these texts), or null.</summary>
    internal static string? NotNormalized(ImmutableArray<string> capabilities, ImmutableArray<string> hosts)
    {
        if (capabilities.IsDefault || hosts.IsDefault) return "the allowlists are missing";
        if (!TryNormalizeCapabilities(capabilities, out var caps, out var error)) return error;
        if (!caps.SequenceEqual(capabilities)) return "allowed_capabilities is not normalised";
        if (!TryNormalizeHosts(hosts, out var hs, out error)) return error;
        return hs.SequenceEqual(hosts) ? null : "allowed_hosts is not normalised";
    }
}

/// <summary>
/// The vault's state: its header (KDF, salt, verifier) once initialised, the records by name, and every nonce ever
/// used under its key. Changed only through <see cref="VaultStateExtensions.ProcessCommand"/> /
/// <see cref="VaultStateExtensions.Apply"/>.
/// </summary>
[WireName("vault.state.v1")]
public sealed record VaultState(VaultHeader? Header, ImmutableSortedDictionary<string, SecretRecord> Records, ImmutableHashSet<VaultBytes> UsedNonces) : IKruxMessage
{
    /// <summary>Not initialised, no records.</summary>
    public static readonly VaultState Empty = new(null, ImmutableSortedDictionary.Create<string, SecretRecord>(StringComparer.Ordinal), []);

    /// <summary>True once <see cref="VaultCommands.InitializeVault"/> has been applied.</summary>
    public bool IsInitialized => Header is not null;

    /// <summary>The record with exactly this name, or null.</summary>
    public SecretRecord? Find(SecretName name) => name.Value is null ? null : Records.GetValueOrDefault(name.Value);

    /// <summary>The version a new value for <paramref name="name"/> must be sealed with: 1 for a new name, else the current version + 1.</summary>
    public int NextVersion(SecretName name) => Find(name) is { } r ? r.Version + 1 : 1;

    /// <summary>The listing (never values), ordered by name; revoked records only when asked for.</summary>
    public ImmutableArray<SecretInfo> List(bool includeRevoked) =>
        [.. Records.Values.Where(r => includeRevoked || !r.IsRevoked).Select(r => r.ToInfo())];

    /// <summary>Content equality.</summary>
    public bool Equals(VaultState? other) =>
        other is not null && Header == other.Header && Records.SequenceEqual(other.Records) && UsedNonces.SetEquals(other.UsedNonces);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Header, Records.Count, UsedNonces.Count);
}

/// <summary>The pure command and event functions of the vault.</summary>
public static class VaultStateExtensions
{
    /// <summary>The longest reason for a revocation or a flag.</summary>
    public const int MaxReasonLength = 512;

    /// <summary>Decides a command: the reply and the events to persist (none on refusal or idempotent repeat).</summary>
    public static (VaultResult Result, ImmutableArray<IVaultEvent> Events) ProcessCommand(this VaultState state, IVaultCommand command)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (command is InitializeVault init)
        {
            if (state.IsInitialized) return Refuse(VaultResultCode.Conflict, "the vault is already initialised");
            if (init.Header?.Kdf is null || init.Header.Verifier is null || init.Header.Cipher is null)
                return Refuse(VaultResultCode.Invalid, "the header is incomplete");
            if (init.Header.Error() is { } headerError) return Refuse(VaultResultCode.Invalid, headerError);
            return Accept(new VaultInitialized(init.Header), "initialised");
        }
        if (!state.IsInitialized) return Refuse(VaultResultCode.NotInitialized, "the vault is not initialised");

        switch (command)
        {
            case AddSecret c:
            {
                if (c.Name.IsManaged) return Refuse(VaultResultCode.Invalid, $"'{c.Name}' is a managed name and cannot be added by an operator");
                if (!SecretName.TryParseOperatorName(c.Name.Value, out _, out var nameError)) return Refuse(VaultResultCode.Invalid, nameError);
                if (!c.Type.IsOperatorAddable()) return Refuse(VaultResultCode.Invalid, $"type '{c.Type.ToWire()}' cannot be added by an operator (api_key or oauth_token)");
                if (state.Records.Values.FirstOrDefault(r => r.Name.UniquenessKey == c.Name.UniquenessKey) is { } taken)
                    return Refuse(VaultResultCode.Conflict, taken.IsRevoked
                        ? $"a revoked secret named '{taken.Name}' exists; revoked names stay reserved for the audit, choose another name"
                        : $"a secret named '{taken.Name}' exists; use rotate to replace its value");
                if (SecretScopes.NotNormalized(c.AllowedCapabilities, c.AllowedHosts) is { } scopeError) return Refuse(VaultResultCode.Invalid, scopeError);
                if (c.Version != 1) return Refuse(VaultResultCode.Conflict, "a new secret is sealed as version 1");
                if (ValueError(state, c.Value) is { } valueError) return Refuse(VaultResultCode.Invalid, valueError);
                return Accept(new SecretAdded(c.Name, c.Type, c.AllowedCapabilities, c.AllowedHosts, 1, c.Value, c.At), "added");
            }

            case RotateSecret c:
            {
                if (state.Find(c.Name) is not { } record) return NotFound(c.Name);
                if (record.Name.IsManaged) return Refuse(VaultResultCode.Invalid, $"'{c.Name}' is a managed secret; it is rotated by the component that owns it");
                if (record.IsRevoked) return Refuse(VaultResultCode.Conflict, $"'{c.Name}' is revoked and cannot be rotated");
                if (c.Version != record.Version + 1) return Refuse(VaultResultCode.Conflict, $"'{c.Name}' is at version {record.Version}; the new value must be sealed as version {record.Version + 1}");
                if (ValueError(state, c.Value) is { } valueError) return Refuse(VaultResultCode.Invalid, valueError);
                return Accept(new SecretRotated(c.Name, c.Version, c.Value, c.At), "rotated");
            }

            case RevokeSecret c:
            {
                if (state.Find(c.Name) is not { } record) return NotFound(c.Name);
                if (c.Reason is null || c.Reason.Length > MaxReasonLength) return Refuse(VaultResultCode.Invalid, $"the reason is longer than {MaxReasonLength} characters");
                if (record.IsRevoked) return (new VaultResult(VaultResultCode.Ok, "already revoked"), []);
                return Accept(new SecretRevoked(c.Name, c.Reason, c.At), "revoked");
            }

            case StoreManagedSecret c:
            {
                if (!c.Name.Name.IsManaged) return Refuse(VaultResultCode.Invalid, "a managed store needs a managed name");
                if (SecretScopes.NotNormalized(c.AllowedCapabilities, c.AllowedHosts) is { } scopeError) return Refuse(VaultResultCode.Invalid, scopeError);
                var expected = state.NextVersion(c.Name.Name);
                if (c.Version != expected) return Refuse(VaultResultCode.Conflict, $"'{c.Name}' must be sealed as version {expected}");
                if (ValueError(state, c.Value) is { } valueError) return Refuse(VaultResultCode.Invalid, valueError);
                return Accept(new ManagedSecretStored(c.Name, c.Type, c.AllowedCapabilities, c.AllowedHosts, c.Version, c.Value, c.At), "stored");
            }

            case FlagSecret c:
            {
                if (state.Find(c.Name) is not { } record) return NotFound(c.Name);
                if (string.IsNullOrWhiteSpace(c.Reason) || c.Reason.Length > MaxReasonLength)
                    return Refuse(VaultResultCode.Invalid, $"a flag needs a reason of 1 to {MaxReasonLength} characters");
                if (record.IsRevoked) return Refuse(VaultResultCode.Conflict, $"'{c.Name}' is revoked");
                if (record.NeedsAttention == c.Reason) return (new VaultResult(VaultResultCode.Ok, "already flagged"), []);
                return Accept(new SecretFlagged(c.Name, c.Reason, c.At), "flagged");
            }

            default:
                return Refuse(VaultResultCode.Invalid, $"unknown command {command.GetType().Name}");
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock.</summary>
    public static VaultState Apply(this VaultState state, IVaultEvent e) => e switch
    {
        VaultInitialized i => state with { Header = i.Header, UsedNonces = state.UsedNonces.Add(i.Header.Verifier.Nonce) },
        SecretAdded a => Put(state, new SecretRecord(a.Name, a.Type, a.AllowedCapabilities, a.AllowedHosts, a.Version, a.Value,
            a.At, null, null, null, null)),
        SecretRotated r when state.Find(r.Name) is { } record => Put(state, record with
        {
            Version = r.Version, Value = r.Value, RotatedAt = r.At, NeedsAttention = null,
        }),
        ManagedSecretStored m => Put(state, state.Find(m.Name.Name) is { IsRevoked: false } live
            ? live with
            {
                Type = m.Type, AllowedCapabilities = m.AllowedCapabilities, AllowedHosts = m.AllowedHosts, Version = m.Version,
                Value = m.Value, RotatedAt = m.At, NeedsAttention = null,
            }
            : new SecretRecord(m.Name.Name, m.Type, m.AllowedCapabilities, m.AllowedHosts, m.Version, m.Value, m.At, null, null, null, null)),
        SecretRevoked r when state.Find(r.Name) is { } record => state with
        {
            Records = state.Records.SetItem(r.Name.Value, record with { RevokedAt = r.At, RevokedReason = r.Reason }),
        },
        SecretFlagged f when state.Find(f.Name) is { } record => state with
        {
            Records = state.Records.SetItem(f.Name.Value, record with { NeedsAttention = f.Reason }),
        },
        _ => state,
    };

    /// <summary>Applies events in order.</summary>
    public static VaultState ApplyAll(this VaultState state, IEnumerable<IVaultEvent> events) =>
        events.Aggregate(state, (s, e) => s.Apply(e));

    private static VaultState Put(VaultState state, SecretRecord record) => state with
    {
        Records = state.Records.SetItem(record.Name.Value, record),
        UsedNonces = state.UsedNonces.Add(record.Value.Nonce),
    };

    // A nonce may be used once per key, ever: a second use under AES-GCM reveals the XOR of two plaintexts and lets
    // the authentication key be recovered. Random 96-bit nonces make a repeat vanishingly unlikely; this check
    // turns a broken random source (or a replayed command) into a refusal instead of a silent catastrophe.
    private static string? ValueError(VaultState state, SealedValue? value) =>
        value is null ? "the sealed value is missing" : value.ShapeError(VaultFormat.MinValueBytes, VaultFormat.MaxValueBytes)
        ?? (state.UsedNonces.Contains(value.Nonce) ? "this nonce was already used under the vault key; seal the value again" : null);

    private static (VaultResult, ImmutableArray<IVaultEvent>) Accept(IVaultEvent e, string message) =>
        (new VaultResult(VaultResultCode.Ok, message), [e]);

    private static (VaultResult, ImmutableArray<IVaultEvent>) NotFound(SecretName name) =>
        Refuse(VaultResultCode.NotFound, $"no secret named '{name}'");

    private static (VaultResult, ImmutableArray<IVaultEvent>) Refuse(VaultResultCode code, string message) =>
        (new VaultResult(code, message), []);
}
