using System.Text;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Policy;

/// <summary>
/// Lexical path handling for policy conditions: paths are canonicalised before they are compared,
/// so <c>/workspace/../etc/passwd</c> and <c>//etc/./passwd</c> are both seen as <c>/etc/passwd</c>.
/// No file system is consulted (Core does no I/O); symlinks are the sandbox's concern.
/// </summary>
public static class PolicyPaths
{
    /// <summary>The directory relative paths are resolved against: the agent's view of its workspace.</summary>
    public const string Workspace = "/workspace";

    /// <summary>
    /// Canonicalises a path lexically: relative paths are taken relative to <see cref="Workspace"/>,
    /// repeated slashes collapse, <c>.</c> segments vanish, <c>..</c> removes the previous segment and
    /// a trailing slash is dropped. Returns false when the path climbs above <c>/</c>
    /// (such a path is never trusted by a policy condition).
    /// </summary>
    public static bool TryCanonicalize(string path, out string canonical)
    {
        if (IsCanonical(path)) { canonical = path; return true; }
        var full = path.Length == 0 ? Workspace : path[0] == '/' ? path : Workspace + "/" + path;
        var segments = new List<string>();
        foreach (var segment in full.Split('/'))
        {
            if (segment.Length == 0 || segment == ".") continue;
            if (segment == "..")
            {
                if (segments.Count == 0) { canonical = string.Empty; return false; }
                segments.RemoveAt(segments.Count - 1);
                continue;
            }
            segments.Add(segment);
        }
        canonical = "/" + string.Join('/', segments);
        return true;
    }

    // The common case (an absolute, already clean path) is detected without allocating.
    private static bool IsCanonical(string path)
    {
        if (path.Length == 0 || path[0] != '/') return false;
        if (path.Length == 1) return true;
        if (path[^1] == '/') return false;
        var segmentStart = 1;
        for (var i = 1; i <= path.Length; i++)
        {
            if (i < path.Length && path[i] != '/') continue;
            var length = i - segmentStart;
            if (length == 0) return false;
            if (length == 1 && path[segmentStart] == '.') return false;
            if (length == 2 && path[segmentStart] == '.' && path[segmentStart + 1] == '.') return false;
            segmentStart = i + 1;
        }
        return true;
    }

    /// <summary>
    /// True when <paramref name="canonicalPath"/> is <paramref name="canonicalPrefix"/> or lies below it
    /// (segment-aware: <c>/workspace</c> does not contain <c>/workspace2</c>).
    /// </summary>
    public static bool IsUnder(string canonicalPath, string canonicalPrefix)
    {
        if (canonicalPrefix == "/") return true;
        if (!canonicalPath.StartsWith(canonicalPrefix, StringComparison.Ordinal)) return false;
        return canonicalPath.Length == canonicalPrefix.Length || canonicalPath[canonicalPrefix.Length] == '/';
    }

    /// <summary>
    /// Translates a path glob into an anchored regular expression: <c>**</c> crosses directories
    /// (<c>/**/</c> also matches a single slash), <c>*</c> and <c>?</c> stay within one segment,
    /// <c>[abc]</c> / <c>[!abc]</c> are character classes. Relative globs are relative to the workspace.
    /// </summary>
    public static Regex CompileGlob(string glob)
    {
        if (glob.Length == 0) throw new FormatException("empty path glob");
        var absolute = glob[0] == '/' ? glob : Workspace + "/" + glob;
        var sb = new StringBuilder("^");
        for (var i = 0; i < absolute.Length; i++)
        {
            var c = absolute[i];
            switch (c)
            {
                case '*' when i + 1 < absolute.Length && absolute[i + 1] == '*':
                    i++;
                    if (i + 1 < absolute.Length && absolute[i + 1] == '/') { sb.Append("(?:.*/)?"); i++; }
                    else sb.Append(".*");
                    break;
                case '*': sb.Append("[^/]*"); break;
                case '?': sb.Append("[^/]"); break;
                case '[':
                    var close = absolute.IndexOf(']', i + 1);
                    if (close < 0) throw new FormatException($"unclosed '[' in path glob '{glob}'");
                    var body = absolute[(i + 1)..close];
                    var negate = body.StartsWith('!') || body.StartsWith('^');
                    if (negate) body = body[1..];
                    if (body.Length == 0) throw new FormatException($"empty character class in path glob '{glob}'");
                    sb.Append(negate ? "[^/" : "[").Append(body.Replace("\\", "\\\\", StringComparison.Ordinal)).Append(']');
                    i = close;
                    break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        sb.Append('$');
        return new Regex(sb.ToString(), RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
    }
}
