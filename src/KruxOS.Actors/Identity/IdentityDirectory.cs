using KruxOS.Core.Identity;

namespace KruxOS.Actors.Identity;

/// <summary>
/// The node-local read model of identities that the edges authenticate against without a round trip
/// to the registry actor. It is replaced atomically with each new state and reports when the first
/// state (after journal recovery) has arrived, so no token is refused during start-up.
/// </summary>
public sealed class IdentityDirectory
{
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile IdentityState _current = IdentityState.Empty;

    /// <summary>The latest known state.</summary>
    public IdentityState Current => _current;

    /// <summary>Completes once the registry has recovered and published its state.</summary>
    public Task Ready => _ready.Task;

    /// <summary>Raised after each new state.</summary>
    public event Action<IdentityState>? Changed;

    /// <summary>Replaces the state.</summary>
    public void Publish(IdentityState state)
    {
        _current = state;
        _ready.TrySetResult();
        Changed?.Invoke(state);
    }
}
