using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace KruxOS.Actors.Vault;

/// <summary>
/// The passphrase a node unlocks (or initialises) its vault with at start-up, taken once from
/// <c>KRUXOS_VAULT_PASSPHRASE</c> or from the systemd credential <c>vault-passphrase</c>
/// (<c>$CREDENTIALS_DIRECTORY/vault-passphrase</c>, <c>LoadCredential=</c> on the appliance). The environment variable is
/// removed from the process environment as it is read, before the configuration system could copy it, so no child
/// process inherits it and no configuration dump shows it. The characters sit in a pinned array that <see cref="Take"/>
/// hands out once and the caller zeroes.
/// </summary>
public sealed class VaultStartupPassphrase
{
    /// <summary>The environment variable.</summary>
    public const string EnvironmentVariable = "KRUXOS_VAULT_PASSPHRASE";

    /// <summary>The systemd credential's name.</summary>
    public const string CredentialName = "vault-passphrase";

    /// <summary>The longest passphrase file read (bytes); longer files are ignored as not a passphrase.</summary>
    public const int MaxFileBytes = 8192;

    private readonly Lock _gate = new();
    private char[]? _chars;

    private VaultStartupPassphrase(char[]? chars, string source)
    {
        _chars = chars;
        Source = source;
    }

    /// <summary>No passphrase: the vault starts locked.</summary>
    public static VaultStartupPassphrase None => new(null, "none");

    /// <summary>Where the passphrase came from (<c>environment</c>, <c>credential</c>, <c>none</c>, or a test's name); never the passphrase.</summary>
    public string Source { get; }

    /// <summary>True until <see cref="Take"/> has handed it out.</summary>
    public bool IsPresent
    {
        get { lock (_gate) return _chars is not null; }
    }

    /// <summary>A passphrase given directly (tests, an embedding host).</summary>
    public static VaultStartupPassphrase Of(string passphrase, string source = "given")
    {
        ArgumentException.ThrowIfNullOrEmpty(passphrase);
        var chars = GC.AllocateArray<char>(passphrase.Length, pinned: true);
        passphrase.CopyTo(chars);
        return new VaultStartupPassphrase(chars, source);
    }

    /// <summary>
    /// Reads and removes <see cref="EnvironmentVariable"/>; without it, reads the systemd credential when
    /// <c>CREDENTIALS_DIRECTORY</c> names one (a single trailing newline is dropped). Call it first thing, before any
    /// configuration is built.
    /// </summary>
    public static VaultStartupPassphrase FromEnvironment()
    {
        var fromEnv = Environment.GetEnvironmentVariable(EnvironmentVariable);
        Environment.SetEnvironmentVariable(EnvironmentVariable, null);
        if (!string.IsNullOrEmpty(fromEnv)) return Of(fromEnv, "environment");
        if (Environment.GetEnvironmentVariable("CREDENTIALS_DIRECTORY") is { Length: > 0 } dir
            && Path.IsPathFullyQualified(dir)
            && ReadCredential(Path.Combine(dir, CredentialName)) is { } chars)
            return new VaultStartupPassphrase(chars, "credential");
        return None;
    }

    /// <summary>The passphrase, once; null afterwards or when none was given. The caller zeroes the array.</summary>
    public char[]? Take()
    {
        lock (_gate)
        {
            var chars = _chars;
            _chars = null;
            return chars;
        }
    }

    /// <summary>Zeroes the characters without using them.</summary>
    public void Discard()
    {
        if (Take() is { } chars) CryptographicOperations.ZeroMemory(MemoryMarshal.AsBytes(chars.AsSpan()));
    }

    /// <summary>Says where it came from and whether it is still held, never what it is.</summary>
    public override string ToString() => $"VaultStartupPassphrase({Source}, {(IsPresent ? "held" : "taken")})";

    private static char[]? ReadCredential(string path)
    {
        byte[]? bytes = null;
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists || info.Length is 0 or > MaxFileBytes) return null;
            bytes = File.ReadAllBytes(path);
            var length = bytes.Length;
            if (length > 0 && bytes[length - 1] == (byte)'\n') length--;
            if (length > 0 && bytes[length - 1] == (byte)'\r') length--;
            if (length == 0) return null;
            var utf8 = new System.Text.UTF8Encoding(false, true);
            var chars = GC.AllocateArray<char>(utf8.GetCharCount(bytes, 0, length), pinned: true);
            utf8.GetChars(bytes, 0, length, chars, 0);
            return chars;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Text.DecoderFallbackException)
        {
            return null;
        }
        finally
        {
            if (bytes is not null) CryptographicOperations.ZeroMemory(bytes);
        }
    }
}
