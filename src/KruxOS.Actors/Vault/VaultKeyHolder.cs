using KruxOS.Core.Vault;
using KruxOS.Vault;

namespace KruxOS.Actors.Vault;

/// <summary>
/// This node's master key: held only in memory (libsodium guarded memory inside <see cref="VaultKey"/>), never persisted,
/// never logged, never sent to another node. <see cref="Lock"/> and <see cref="Dispose"/> (the host shutting down) zero
/// and free it. Every node of a cluster holds its own, unlocked with its own passphrase.
/// </summary>
public sealed class VaultKeyHolder : IDisposable
{
    private readonly Lock _gate = new();
    private VaultKey? _key;

    /// <summary>True while this node holds the unlocked key.</summary>
    public bool IsUnlocked => Volatile.Read(ref _key)?.IsUnlocked == true;

    /// <summary>Raised after the key was installed or dropped (true = unlocked).</summary>
    public event Action<bool>? Changed;

    /// <summary>Takes <paramref name="key"/> as the node's key; a key held before is zeroed.</summary>
    public void Install(VaultKey key)
    {
        ArgumentNullException.ThrowIfNull(key);
        VaultKey? old;
        lock (_gate)
        {
            old = _key;
            _key = key;
        }
        if (!ReferenceEquals(old, key)) old?.Dispose();
        Changed?.Invoke(true);
    }

    /// <summary>Zeroes and drops the key; true when one was held. Resolutions in progress end as <c>VaultLocked</c>.</summary>
    public bool Lock()
    {
        VaultKey? old;
        lock (_gate)
        {
            old = _key;
            _key = null;
        }
        if (old is null) return false;
        var wasUnlocked = old.IsUnlocked;
        old.Dispose();
        Changed?.Invoke(false);
        return wasUnlocked;
    }

    /// <summary>Resolves with the key held now (none: <c>VaultLocked</c>).</summary>
    public SecretResolution Resolve(VaultState state, SecretUseRequest request) => SecretResolver.Resolve(state, Volatile.Read(ref _key), request);

    /// <summary>Derives a key for <paramref name="purpose"/> (<see cref="VaultKey.TryDeriveSubkey"/>); false while locked.</summary>
    public bool TryDerive(string purpose, Span<byte> destination)
    {
        if (Volatile.Read(ref _key) is not { } key)
        {
            destination.Clear();
            return false;
        }
        return key.TryDeriveSubkey(purpose, destination);
    }

    /// <summary>The key for sealing a new value, or null while locked. The key may still be locked while it is used (it then throws <see cref="VaultLockedException"/>).</summary>
    public VaultKey? Current => Volatile.Read(ref _key) is { IsUnlocked: true } key ? key : null;

    /// <summary>Zeroes the key (host shutdown).</summary>
    public void Dispose() => Lock();

    /// <summary>Whether a key is held, never what it is.</summary>
    public override string ToString() => IsUnlocked ? "VaultKeyHolder(unlocked)" : "VaultKeyHolder(locked)";
}
