using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Event;
using KruxOS.Core.Admin;

namespace KruxOS.Actors.Vault;

/// <summary>
/// Unlocks (or initialises) this node's vault at start-up with the node's configured passphrase
/// (<see cref="VaultStartupPassphrase"/>), once the vault state has reached the node; without a passphrase the vault
/// stays locked. The passphrase is zeroed when the attempt ends, whatever its outcome; a failure is logged (never the
/// passphrase) and leaves the vault locked. The actor then stays, idle, as every node child does.
/// </summary>
public sealed class VaultStartupActor : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly VaultStartupPassphrase _passphrase;
    private readonly VaultAdmin _admin;
    private readonly VaultDirectory _directory;

    public VaultStartupActor(VaultStartupPassphrase passphrase, VaultAdmin admin, VaultDirectory directory)
    {
        _passphrase = passphrase;
        _admin = admin;
        _directory = directory;
        Receive<StateArrived>(_ => Unlock());
        Receive<Finished>(Handle);
        Receive<Status.Failure>(f =>
        {
            _log.Error("Vault start-up unlock failed ({0}); the vault stays locked", f.Cause.GetType().Name);
            _passphrase.Discard();
        });
    }

    public static Props Props(VaultStartupPassphrase passphrase, VaultAdmin admin, VaultDirectory directory) =>
        Akka.Actor.Props.Create(() => new VaultStartupActor(passphrase, admin, directory));

    /// <inheritdoc />
    protected override void PreStart()
    {
        if (!_passphrase.IsPresent)
        {
            _log.Info("No vault passphrase configured; the vault starts locked");
            return;
        }
        _directory.Ready.PipeTo(Self, success: () => StateArrived.Instance);
    }

    /// <inheritdoc />
    protected override void PostStop() => _passphrase.Discard();

    private void Unlock()
    {
        if (_passphrase.Take() is not { } chars) return;
        Attempt(chars).PipeTo(Self);
    }

    private async Task<Finished> Attempt(char[] chars)
    {
        try
        {
            var result = await _admin.UnlockOrInitializeAsync(chars, CancellationToken.None).ConfigureAwait(false);
            return new Finished(result.IsOk ? result.Value!.StateName : null, result.Error);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(chars.AsSpan()));
        }
    }

    private void Handle(Finished finished)
    {
        if (finished.Error is { } error)
            _log.Error("Vault start-up unlock refused ({0}): {1}; the vault stays locked", error.Code, error.Message);
        else
            _log.Info("Vault {0} at start-up", finished.State);
    }

    private sealed class StateArrived
    {
        public static readonly StateArrived Instance = new();
        private StateArrived() { }
    }

    private sealed record Finished(string? State, AdminError? Error);
}
