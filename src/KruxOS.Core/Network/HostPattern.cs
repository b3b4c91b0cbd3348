using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace KruxOS.Core.Network;

/// <summary>What kind of host a normalised host name is.</summary>
public enum HostKind
{
    /// <summary>A DNS name (ASCII, lower case, no trailing dot).</summary>
    Dns,
    /// <summary>An IPv4 address in dotted-quad form.</summary>
    IPv4,
    /// <summary>An IPv6 address in its compressed form, without brackets.</summary>
    IPv6,
}

/// <summary>
/// Host names as the egress policy and the vault compare them: internationalised names in their ASCII
/// (punycode) form, lower case, without the trailing dot; addresses in their canonical text. Numeric
/// spellings that some resolvers read as addresses (<c>127.1</c>, <c>0x7f000001</c>, <c>2130706433</c>) are
/// refused instead of being guessed at.
/// </summary>
public static class HostNames
{
    /// <summary>The longest DNS name (RFC 1035).</summary>
    public const int MaxLength = 253;

    /// <summary>Normalises a host (a DNS name or an address literal; IPv6 may be bracketed); false with a reason otherwise.</summary>
    public static bool TryNormalize(string? host, out string normalized, out HostKind kind, out string error)
    {
        normalized = string.Empty;
        kind = HostKind.Dns;
        error = string.Empty;
        if (string.IsNullOrEmpty(host)) { error = "the host is empty"; return false; }
        if (host.Length > 1024) { error = "the host is too long"; return false; }
        foreach (var c in host)
            if (char.IsControl(c) || char.IsWhiteSpace(c)) { error = "the host contains whitespace or control characters"; return false; }

        var text = host;
        if (text.StartsWith('[') != text.EndsWith(']')) { error = "unbalanced brackets around an IPv6 address"; return false; }
        if (text.StartsWith('[')) text = text[1..^1];
        if (text.Contains(':'))
        {
            if (text.Contains('%')) { error = "IPv6 zone ids are not allowed"; return false; }
            if (!IPAddress.TryParse(text, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6)
            {
                error = $"'{host}' is not an IPv6 address";
                return false;
            }
            normalized = v6.ToString();
            kind = HostKind.IPv6;
            return true;
        }

        if (text.EndsWith('.')) text = text[..^1];
        if (TryDottedQuad(text, out var v4))
        {
            normalized = v4.ToString();
            kind = HostKind.IPv4;
            return true;
        }

        string ascii;
        try { ascii = new IdnMapping().GetAscii(text).ToLowerInvariant(); }
        catch (ArgumentException) { error = $"'{host}' is not a valid host name"; return false; }
        if (ascii.Length is 0 or > MaxLength) { error = $"'{host}' is not a valid host name (1 to {MaxLength} characters)"; return false; }

        var labels = ascii.Split('.');
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63) { error = $"'{host}' has an empty label or one longer than 63 characters"; return false; }
            if (label[0] == '-' || label[^1] == '-') { error = $"'{host}' has a label that starts or ends with '-'"; return false; }
            foreach (var c in label)
                if (!(c is >= 'a' and <= 'z' or >= '0' and <= '9' or '-' or '_'))
                {
                    error = $"'{host}' contains '{c}', which is not allowed in a host name";
                    return false;
                }
        }
        // No top-level domain is numeric; a name ending in a numeric (or hex) label is an address in some
        // resolver's eyes (inet_aton reads 127.1 and 0x7f.1), so it is refused rather than guessed at.
        var last = labels[^1];
        if (last.All(char.IsAsciiDigit) || (last.StartsWith("0x", StringComparison.Ordinal) && last.Length > 2 && last[2..].All(char.IsAsciiHexDigit)))
        {
            error = $"'{host}' looks like a numeric address; write an address as four decimal octets";
            return false;
        }
        normalized = ascii;
        kind = HostKind.Dns;
        return true;
    }

    /// <summary>Strict IPv4: four decimal octets 0-255 without leading zeros.</summary>
    internal static bool TryDottedQuad(string text, out IPAddress address)
    {
        address = IPAddress.None;
        var parts = text.Split('.');
        if (parts.Length != 4) return false;
        var bytes = new byte[4];
        for (var i = 0; i < 4; i++)
        {
            var p = parts[i];
            if (p.Length is 0 or > 3 || !p.All(char.IsAsciiDigit) || (p.Length > 1 && p[0] == '0')) return false;
            var v = int.Parse(p, NumberStyles.None, CultureInfo.InvariantCulture);
            if (v > 255) return false;
            bytes[i] = (byte)v;
        }
        address = new IPAddress(bytes);
        return true;
    }
}

/// <summary>How a <see cref="HostPattern"/> matches.</summary>
public enum HostPatternKind
{
    /// <summary>One host (a DNS name or an address literal).</summary>
    Exact,
    /// <summary><c>*.example.com</c>: every name below the suffix, at any depth, not the suffix itself.</summary>
    Suffix,
    /// <summary><c>*</c>: every host.</summary>
    Any,
}

/// <summary>
/// A host pattern of an allowlist: an exact host, <c>*.suffix</c>, or <c>*</c> (any host). Used by the
/// egress policy's <c>network.allowed_domains</c> and by a secret's <c>allowed_hosts</c>. Names are compared
/// in their normalised form (<see cref="HostNames"/>).
/// </summary>
public sealed record HostPattern
{
    private HostPattern(HostPatternKind kind, string value, HostKind hostKind)
    {
        Kind = kind;
        Value = value;
        HostKind = hostKind;
    }

    /// <summary>Every host.</summary>
    public static HostPattern Any { get; } = new(HostPatternKind.Any, "*", HostKind.Dns);

    /// <summary>The kind of pattern.</summary>
    public HostPatternKind Kind { get; }

    /// <summary>The exact host, or the suffix without <c>*.</c>; <c>*</c> for <see cref="HostPatternKind.Any"/>.</summary>
    public string Value { get; }

    /// <summary>For an exact pattern, whether it names a DNS name or an address.</summary>
    public HostKind HostKind { get; }

    /// <summary>Parses a pattern, or explains why it is not one.</summary>
    public static bool TryParse(string? text, out HostPattern pattern, out string error)
    {
        pattern = Any;
        error = string.Empty;
        var t = text?.Trim() ?? string.Empty;
        if (t == "*") return true;
        if (t.StartsWith("*.", StringComparison.Ordinal))
        {
            var suffix = t[2..];
            if (suffix.Length == 0) { error = "'*.' names no domain: write '*' to allow every host"; return false; }
            if (suffix.Contains('*')) { error = $"'{t}': only one leading '*.' is allowed"; return false; }
            if (!HostNames.TryNormalize(suffix, out var normalized, out var kind, out error)) return false;
            if (kind != HostKind.Dns) { error = $"'{t}': a wildcard applies to DNS names, not addresses"; return false; }
            pattern = new HostPattern(HostPatternKind.Suffix, normalized, HostKind.Dns);
            return true;
        }
        if (t.Contains('*')) { error = $"'{t}' is not a host pattern: use 'host.example.com', '*.example.com' or '*'"; return false; }
        if (!HostNames.TryNormalize(t, out var exact, out var exactKind, out error)) return false;
        pattern = new HostPattern(HostPatternKind.Exact, exact, exactKind);
        return true;
    }

    /// <summary>Parses a pattern or throws <see cref="FormatException"/>; for trusted input.</summary>
    public static HostPattern Parse(string text) =>
        TryParse(text, out var p, out var error) ? p : throw new FormatException(error);

    /// <summary>True when the pattern matches a host already normalised by <see cref="HostNames.TryNormalize"/>.</summary>
    public bool Matches(string normalizedHost, HostKind kind) => Kind switch
    {
        HostPatternKind.Any => true,
        HostPatternKind.Suffix => kind == HostKind.Dns && normalizedHost.Length > Value.Length + 1
                                  && normalizedHost.EndsWith(Value, StringComparison.Ordinal)
                                  && normalizedHost[^(Value.Length + 1)] == '.',
        _ => kind == HostKind && string.Equals(normalizedHost, Value, StringComparison.Ordinal),
    };

    /// <summary>The pattern as it is written in policy files: <c>host</c>, <c>*.suffix</c> or <c>*</c>.</summary>
    public override string ToString() => Kind switch
    {
        HostPatternKind.Any => "*",
        HostPatternKind.Suffix => "*." + Value,
        _ => Value,
    };
}
