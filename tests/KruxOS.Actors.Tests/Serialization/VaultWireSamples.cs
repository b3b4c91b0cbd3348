using KruxOS.Core;
using KruxOS.Core.Vault;
using static KruxOS.Core.Vault.VaultCommands;
using static KruxOS.Core.Vault.VaultEvents;

namespace KruxOS.Actors.Tests.Serialization;

/// <summary>One sample of every vault wire type, for the round-trip spec (ADR 0002) and the journal leak spec.</summary>
internal static class VaultWireSamples
{
    private static readonly DateTimeOffset At = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);

    public static SealedValue Sealed(byte seed) =>
        new(new VaultBytes(Enumerable.Range(seed, VaultFormat.NonceBytes).Select(i => (byte)i).ToArray()),
            new VaultBytes(Enumerable.Range(seed, 40).Select(i => (byte)(i * 7)).ToArray()));

    public static IEnumerable<IKruxMessage> All()
    {
        var kdf = VaultKdf.Default(new VaultBytes(Enumerable.Range(0, VaultFormat.SaltBytes).Select(i => (byte)i).ToArray()));
        var header = new VaultHeader(kdf, VaultFormat.Cipher, Sealed(1), At);
        var stripe = SecretName.Parse("stripe");
        var gmail = ManagedSecretName.ServiceOAuth("gmail");
        var added = new SecretAdded(stripe, SecretType.ApiKey, ["network.credentialed_request"], ["api.stripe.com", "*.stripe.com"], 1, Sealed(2), At);
        var stored = new ManagedSecretStored(gmail, SecretType.OauthToken, ["email.*"], ["gmail.googleapis.com"], 1, Sealed(3), At);
        var state = VaultState.Empty.ApplyAll(
        [
            new VaultInitialized(header), added, stored,
            new SecretRotated(stripe, 2, Sealed(4), At.AddDays(1)),
            new SecretFlagged(stripe, "expiring", At.AddDays(2)),
            new SecretRevoked(gmail.Name, "disconnected", At.AddDays(3)),
        ]);
        yield return Sealed(9);
        yield return kdf;
        yield return header;
        yield return new InitializeVault(header);
        yield return new AddSecret(stripe, SecretType.ApiKey, ["network.credentialed_request"], ["api.stripe.com"], 1, Sealed(5), At);
        yield return new RotateSecret(stripe, 2, Sealed(6), At);
        yield return new RevokeSecret(stripe, "leaked", At);
        yield return new StoreManagedSecret(gmail, SecretType.OauthToken, ["email.*"], ["gmail.googleapis.com"], 1, Sealed(7), At);
        yield return new FlagSecret(stripe, "refresh failed", At);
        yield return new VaultResult(VaultResultCode.Conflict, "a secret named 'stripe' exists");
        yield return new VaultInitialized(header);
        yield return added;
        yield return new SecretRotated(stripe, 2, Sealed(8), At);
        yield return stored;
        yield return new SecretRevoked(stripe, "leaked", At);
        yield return new SecretFlagged(stripe, "expiring", At);
        yield return state.Find(stripe)!;
        yield return state.Find(stripe)!.ToInfo();
        yield return state;
        yield return new VersionedVaultState(7, state);
        yield return VaultQueries.GetVaultState.Instance;
    }
}
