using System.Text;

namespace KruxOS.Core.Sessions;

/// <summary>
/// Client attribution at the boundary (issue 9): the <c>X-KruxOS-Client</c> header a bridge sends on the
/// WebSocket upgrade or HTTP session, and the <c>clientInfo</c> of MCP <c>initialize</c>.
/// <para>Header rule: absent or empty → no attribution. Otherwise, after trimming and lower-casing, it must be
/// 1–32 characters of <c>[a-z0-9._-]</c> starting with a letter or digit (<c>claude-code</c>, <c>codex</c>, or
/// another short token); anything else is refused with <c>400 invalid_client_header</c> before the session opens,
/// so a mistyped attribution is noticed rather than silently lost.</para>
/// <para><c>clientInfo</c> is free text from the client: control characters are dropped and name and version are
/// cut to <see cref="MaxInfoLength"/> characters; a missing or blank name becomes <c>unknown</c>.</para>
/// </summary>
public static class ClientAttribution
{
    /// <summary>The header name.</summary>
    public const string Header = "X-KruxOS-Client";

    /// <summary>Longest accepted header value.</summary>
    public const int MaxHeaderLength = 32;

    /// <summary>Longest kept <c>clientInfo</c> name or version.</summary>
    public const int MaxInfoLength = 128;

    /// <summary>The attributions the shipped bridge sends (<c>--cli</c>).</summary>
    public static readonly IReadOnlyList<string> Known = ["claude-code", "codex"];

    /// <summary>Parses the header. True with null for no attribution, true with the token, or false (refuse) with a reason.</summary>
    public static bool TryParseHeader(string? value, out string? cli, out string reason)
    {
        cli = null;
        reason = "";
        var v = value?.Trim();
        if (string.IsNullOrEmpty(v)) return true;
        v = v.ToLowerInvariant();
        if (v.Length > MaxHeaderLength)
        {
            reason = $"{Header} must be at most {MaxHeaderLength} characters";
            return false;
        }
        if (!char.IsAsciiLetterOrDigit(v[0]) || v.Any(c => !(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '_' or '-')))
        {
            reason = $"{Header} must be a short token of letters, digits, '.', '_' or '-' (e.g. {string.Join(", ", Known)})";
            return false;
        }
        cli = v;
        return true;
    }

    /// <summary>The client of a session from <c>clientInfo</c> (sanitized) and the header's attribution.</summary>
    public static ClientInfo FromInitialize(string? name, string? version, string? cli)
    {
        var n = Clean(name);
        return new ClientInfo(n.Length == 0 ? ClientInfo.Unknown.Name : n, Clean(version), cli);
    }

    private static string Clean(string? text)
    {
        if (string.IsNullOrEmpty(text)) return "";
        var sb = new StringBuilder(Math.Min(text.Length, MaxInfoLength));
        foreach (var c in text)
        {
            if (char.IsControl(c)) continue;
            if (sb.Length == MaxInfoLength) break;
            sb.Append(c);
        }
        return sb.ToString().Trim();
    }
}
