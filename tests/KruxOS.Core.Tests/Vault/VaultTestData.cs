using System.Security.Cryptography;
using KruxOS.Core.Vault;
using static KruxOS.Core.Vault.VaultCommands;

namespace KruxOS.Core.Tests.Vault;

/// <summary>Headers, sealed values and commands for the pure vault specs (no cryptography: the state never sees a key).</summary>
internal static class VaultTestData
{
    public static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);

    public static SealedValue Sealed(int plainLength = 32) =>
        new(new VaultBytes(RandomNumberGenerator.GetBytes(VaultFormat.NonceBytes)),
            new VaultBytes(RandomNumberGenerator.GetBytes(plainLength + VaultFormat.TagBytes)));

    public static VaultHeader Header() =>
        new(VaultKdf.Default(new VaultBytes(RandomNumberGenerator.GetBytes(VaultFormat.SaltBytes))), VaultFormat.Cipher,
            Sealed(VaultFormat.VerifierPlaintext.Length), T0);

    public static VaultState Initialized() => Run(VaultState.Empty, new InitializeVault(Header()));

    public static AddSecret Add(string name, string[]? caps = null, string[]? hosts = null, SecretType type = SecretType.ApiKey, SealedValue? value = null) =>
        new(SecretName.Parse(name), type, [.. caps ?? ["network.credentialed_request"]], [.. hosts ?? ["api.stripe.com"]], 1, value ?? Sealed(), T0);

    /// <summary>Decides a command that must succeed and applies its events.</summary>
    public static VaultState Run(VaultState state, IVaultCommand command)
    {
        var (result, events) = state.ProcessCommand(command);
        if (!result.IsOk) throw new InvalidOperationException($"{command.GetType().Name} refused: {result.Message}");
        return state.ApplyAll(events);
    }
}
