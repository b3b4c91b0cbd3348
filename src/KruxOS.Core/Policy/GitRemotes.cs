using System.Collections.Immutable;
using System.Globalization;
using System.Text;

namespace KruxOS.Core.Policy;

/// <summary>
/// Git remote URLs as the policy sees them (ADR 0012). Two kinds are supported, both in one canonical form so
/// that policy entries and call arguments compare as plain strings:
/// <list type="bullet">
/// <item><c>file:///abs/path</c> (or a bare absolute path): a repository inside the agent's sandbox view
/// (<c>/workspace/…</c> or an operator mount <c>/mnt/&lt;label&gt;/…</c>); the path is canonicalised lexically.</item>
/// <item><c>git://host[:port]/path</c>: a git daemon, reached through the gateway's relay; the host is
/// lower-cased and the port made explicit (9418 by default).</item>
/// </list>
/// Everything else (http, https, ssh, scp-like <c>user@host:path</c>, <c>ext::</c>, user info, query strings)
/// is not supported and never allowed.
/// </summary>
public static class GitRemotes
{
    /// <summary>The git daemon's default port.</summary>
    public const int DefaultGitPort = 9418;

    /// <summary>Normalises a remote URL or an allowlist entry; false with a reason when it is not supported.</summary>
    public static bool TryNormalize(string? url, out string normalized, out string error)
    {
        normalized = string.Empty;
        error = string.Empty;
        if (string.IsNullOrWhiteSpace(url)) { error = "the remote is empty"; return false; }
        if (url.Length > 2048) { error = "the remote is longer than 2048 characters"; return false; }
        if (url.Any(c => char.IsControl(c) || char.IsWhiteSpace(c))) { error = "the remote contains whitespace or control characters"; return false; }
        if (url.StartsWith('/')) url = "file://" + url;
        if (url.StartsWith("file://", StringComparison.OrdinalIgnoreCase))
        {
            var path = url[7..];
            if (!path.StartsWith('/')) { error = "a file:// remote needs an absolute path (file:///path)"; return false; }
            if (!CanonicalPath(path, out var canonical)) { error = "the path climbs above '/'"; return false; }
            normalized = "file://" + canonical;
            return true;
        }
        if (url.StartsWith("git://", StringComparison.OrdinalIgnoreCase))
        {
            var rest = url[6..];
            var slash = rest.IndexOf('/');
            var authority = slash < 0 ? rest : rest[..slash];
            var path = slash < 0 ? "/" : rest[slash..];
            if (authority.Contains('@')) { error = "user information is not allowed in a git:// remote"; return false; }
            if (path.IndexOfAny(['?', '#', '\\']) >= 0) { error = "query strings, fragments and backslashes are not allowed in a git:// remote"; return false; }
            if (!SplitHostPort(authority, out var host, out var port, out error)) return false;
            if (!CanonicalPath(path, out var canonical)) { error = "the path climbs above '/'"; return false; }
            normalized = $"git://{host}:{port.ToString(CultureInfo.InvariantCulture)}{canonical}";
            return true;
        }
        error = "only file:// (repositories in the workspace or a mount) and git:// (git daemon) remotes are supported";
        return false;
    }

    /// <summary>
    /// True when the normalised <paramref name="url"/> is covered by the normalised <paramref name="entry"/>:
    /// equal, or below it (segment-aware: <c>file:///mnt/repos</c> covers <c>file:///mnt/repos/a.git</c>
    /// but not <c>file:///mnt/repos-old</c>).
    /// </summary>
    public static bool Covers(string entry, string url) =>
        url == entry || url.StartsWith(entry.TrimEnd('/') + "/", StringComparison.Ordinal);

    /// <summary>For a normalised git:// URL, its <c>host:port</c>; otherwise null.</summary>
    public static string? Endpoint(string normalized)
    {
        if (!normalized.StartsWith("git://", StringComparison.Ordinal)) return null;
        var rest = normalized[6..];
        var slash = rest.IndexOf('/');
        return slash < 0 ? rest : rest[..slash];
    }

    private static bool SplitHostPort(string authority, out string host, out int port, out string error)
    {
        host = string.Empty;
        port = DefaultGitPort;
        error = string.Empty;
        string portText = string.Empty;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']');
            if (close < 0) { error = "an IPv6 host needs a closing ']'"; return false; }
            host = authority[..(close + 1)].ToLowerInvariant();
            if (close + 1 < authority.Length)
            {
                if (authority[close + 1] != ':') { error = "unexpected characters after the IPv6 host"; return false; }
                portText = authority[(close + 2)..];
            }
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = (colon < 0 ? authority : authority[..colon]).ToLowerInvariant();
            if (colon >= 0) portText = authority[(colon + 1)..];
            if (host.Length == 0 || host.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '.' or '-')))
            {
                error = "the host must be a DNS name or an IP address";
                return false;
            }
        }
        if (portText.Length > 0 && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            error = "the port must be a number from 1 to 65535";
            return false;
        }
        return true;
    }

    private static bool CanonicalPath(string path, out string canonical)
    {
        var parts = new List<string>();
        foreach (var segment in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (segment == ".") continue;
            if (segment == "..")
            {
                if (parts.Count == 0) { canonical = string.Empty; return false; }
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(segment);
        }
        var sb = new StringBuilder();
        foreach (var p in parts) sb.Append('/').Append(p);
        if (sb.Length == 0 || path.EndsWith('/')) sb.Append('/');
        canonical = sb.ToString();
        return true;
    }
}

/// <summary>
/// The git remotes a principal may use: one list per policy layer that declares <c>git.remotes</c>
/// (system, org, the principal's own file). A remote is allowed only when at least one layer declares a
/// list and <b>every</b> declaring layer covers it (most restrictive wins, deny by default, ADR 0012).
/// </summary>
public sealed record GitRemoteAllowlist(ImmutableArray<ImmutableArray<string>> Layers)
{
    /// <summary>No layer declares remotes: nothing is allowed.</summary>
    public static readonly GitRemoteAllowlist None = new(ImmutableArray<ImmutableArray<string>>.Empty);

    /// <summary>Whether the remote (any supported spelling) is allowed; unsupported remotes never are.</summary>
    public bool Allows(string url) => GitRemotes.TryNormalize(url, out var normalized, out _) && AllowsNormalized(normalized);

    /// <summary>Whether an already normalised remote is allowed.</summary>
    public bool AllowsNormalized(string normalized) =>
        !Layers.IsDefaultOrEmpty && Layers.All(layer => layer.Any(entry => GitRemotes.Covers(entry, normalized)));

    public bool Equals(GitRemoteAllowlist? other) =>
        other is not null && Layers.Length == other.Layers.Length && Layers.Zip(other.Layers).All(p => p.First.SequenceEqual(p.Second));

    public override int GetHashCode() => Layers.Length;
}
