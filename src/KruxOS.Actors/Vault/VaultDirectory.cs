using KruxOS.Core.Vault;

namespace KruxOS.Actors.Vault;

/// <summary>
/// The node-local read model of the vault: the latest ciphertext state the node knows, replaced atomically with each
/// newer version. Resolutions read it without a round trip to the entity. It holds no key and no plaintext.
/// </summary>
public sealed class VaultDirectory
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Lock _gate = new();
    private volatile VersionedVaultState _current = new(-1, VaultState.Empty);

    /// <summary>The latest known state.</summary>
    public VaultState Current => _current.State;

    /// <summary>The latest known state with its version.</summary>
    public VersionedVaultState Versioned => _current;

    /// <summary>Completes once the entity has recovered and its state reached this node.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Takes <paramref name="state"/> when it is newer than the current one; true when it did.</summary>
    public bool Publish(VersionedVaultState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_gate)
        {
            if (state.Version <= _current.Version && _ready.Task.IsCompleted) return false;
            if (state.Version < _current.Version) return false;
            _current = state;
        }
        _ready.TrySetResult();
        return true;
    }
}
