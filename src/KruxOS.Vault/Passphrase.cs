using System.Text;

namespace KruxOS.Vault;

/// <summary>
/// The operator's passphrase rules (spec §17): at least 12 characters (Unicode scalar values after NFC
/// normalisation), at most 1024, no control characters (a stray newline from a file or a prompt would otherwise
/// become part of it). The passphrase is normalised to NFC before it is encoded as UTF-8, so the same
/// passphrase typed on a system that produces decomposed characters opens the vault too.
/// </summary>
public static class PassphraseRules
{
    /// <summary>Minimum length in characters.</summary>
    public const int MinLength = 12;

    /// <summary>Maximum length in characters.</summary>
    public const int MaxLength = 1024;

    /// <summary>Why a new passphrase is refused, or null when it is acceptable. Never echoes the passphrase.</summary>
    public static string? Check(ReadOnlySpan<char> passphrase)
    {
        if (passphrase.Length > MaxLength * 2) return $"the passphrase is longer than {MaxLength} characters";
        using var normalized = Normalize(passphrase);
        var chars = normalized.Chars;
        var count = 0;
        foreach (var rune in chars.EnumerateRunes())
        {
            if (Rune.IsControl(rune)) return "the passphrase contains a control character (a newline or tab?)";
            count++;
        }
        if (count < MinLength) return $"the passphrase must have at least {MinLength} characters";
        if (count > MaxLength) return $"the passphrase is longer than {MaxLength} characters";
        if (chars.Trim().Length != chars.Length) return "the passphrase starts or ends with whitespace";
        return null;
    }

    /// <summary>The passphrase as NFC-normalised UTF-8 in a pinned buffer that the caller disposes (zeroes).</summary>
    internal static SecretBytes ToUtf8(ReadOnlySpan<char> passphrase)
    {
        using var normalized = Normalize(passphrase);
        var bytes = new SecretBytes(Encoding.UTF8.GetByteCount(normalized.Chars));
        Encoding.UTF8.GetBytes(normalized.Chars, bytes.Span);
        return bytes;
    }

    private static NormalizedChars Normalize(ReadOnlySpan<char> passphrase)
    {
        // NFC never needs more than three times the input (Unicode's stability guarantee); stay in a pinned buffer.
        var buffer = GC.AllocateArray<char>(Math.Max(passphrase.Length * 3, 1), pinned: true);
        if (passphrase.TryNormalize(buffer, out var written, NormalizationForm.FormC))
            return new NormalizedChars(buffer, written);
        // Not normalisable (lone surrogates): use it as given; the caller's rules and the KDF still apply.
        passphrase.CopyTo(buffer);
        return new NormalizedChars(buffer, passphrase.Length);
    }

    private readonly struct NormalizedChars(char[] buffer, int length) : IDisposable
    {
        public ReadOnlySpan<char> Chars => buffer.AsSpan(0, length);

        public void Dispose() => Array.Clear(buffer);
    }
}
