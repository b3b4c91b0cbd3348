using System.Text;
using System.Text.RegularExpressions;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// Glob patterns: <c>*</c> (within a segment), <c>**</c> (any depth), <c>?</c>, <c>[abc]</c>, <c>[!abc]</c>.
/// A pattern without '/' matches the file name at any depth; with '/', the path relative to the search root.
/// </summary>
internal sealed class Glob
{
    private readonly Regex _regex;

    private Glob(Regex regex, bool nameOnly) { _regex = regex; NameOnly = nameOnly; }

    public bool NameOnly { get; }

    public static Glob Parse(string pattern)
    {
        var sb = new StringBuilder("^");
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            switch (c)
            {
                case '*' when i + 1 < pattern.Length && pattern[i + 1] == '*':
                    i++;
                    if (i + 1 < pattern.Length && pattern[i + 1] == '/') { i++; sb.Append("(?:.*/)?"); }
                    else sb.Append(".*");
                    break;
                case '*': sb.Append("[^/]*"); break;
                case '?': sb.Append("[^/]"); break;
                case '[':
                    var end = pattern.IndexOf(']', i + 1);
                    if (end < 0) throw FsErrors.InvalidPattern(pattern, "unclosed '['");
                    var body = pattern[(i + 1)..end];
                    if (body.Length == 0) throw FsErrors.InvalidPattern(pattern, "empty character class");
                    var negate = body[0] is '!' or '^';
                    if (negate) body = body[1..];
                    sb.Append('[').Append(negate ? "^" : string.Empty).Append(body.Replace("\\", "\\\\").Replace("[", "\\[")).Append(']');
                    i = end;
                    break;
                default: sb.Append(Regex.Escape(c.ToString())); break;
            }
        }
        sb.Append('$');
        try { return new Glob(new Regex(sb.ToString(), RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)), !pattern.Contains('/')); }
        catch (ArgumentException e) { throw FsErrors.InvalidPattern(pattern, e.Message); }
    }

    /// <summary>Matches a path relative to the search root (forward slashes).</summary>
    public bool IsMatch(string relativePath) =>
        _regex.IsMatch(NameOnly ? relativePath[(relativePath.LastIndexOf('/') + 1)..] : relativePath);
}
