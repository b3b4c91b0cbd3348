using System.Text;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>One setting of a git configuration file: its canonical name (section and key lower-cased,
/// subsection as written, e.g. <c>remote.origin.url</c>) and the line it starts on.</summary>
internal sealed record GitConfigEntry(string Section, string? Subsection, string Key, int Line)
{
    public string Name => Subsection is null ? $"{Section}.{Key}" : $"{Section}.{Subsection}.{Key}";
}

/// <summary>
/// Decides whether a repository's own configuration may be used (ADR 0016). Git reads
/// <c>$GIT_DIR/config</c> from the agent-writable repository, and dozens of its keys name programs
/// (<c>core.fsmonitor</c>, <c>filter.*.clean</c>, <c>diff.external</c>, <c>core.hooksPath</c>,
/// <c>credential.helper</c>, <c>gpg.program</c>, <c>include.path</c> …), so a denylist would always
/// trail git's releases. Instead every key must be on a short allowlist of inert settings (what
/// <c>git init</c>, <c>git clone</c> and <c>git branch --set-upstream</c> write, plus identity); anything
/// else — includes too — refuses the call with the offending keys named. The parser is deliberately
/// stricter than git's: a file it cannot read exactly as git would (deprecated section syntax,
/// line continuations, control bytes) is refused rather than guessed at.
/// </summary>
internal static class GitConfigPolicy
{
    /// <summary>Largest configuration file accepted (git init writes ~100 bytes; a clone ~300).</summary>
    public const int MaxBytes = 64 * 1024;

    private static readonly HashSet<string> Plain = new(StringComparer.Ordinal)
    {
        "core.repositoryformatversion", "core.filemode", "core.bare", "core.logallrefupdates", "core.symlinks",
        "core.ignorecase", "core.precomposeunicode", "core.autocrlf", "core.eol", "core.safecrlf", "core.quotepath",
        "core.abbrev", "core.compression", "core.loosecompression", "core.checkstat", "core.trustctime",
        "extensions.objectformat",
        "init.defaultbranch",
        "user.name", "user.email",
        "i18n.commitencoding", "i18n.logoutputencoding",
        "receive.denycurrentbranch", "receive.denynonfastforwards", "receive.denydeletes",
    };

    /// <summary>Keys allowed below a named subsection (<c>[remote "origin"]</c>, <c>[branch "main"]</c>).</summary>
    private static readonly Dictionary<string, HashSet<string>> Subsectioned = new(StringComparer.Ordinal)
    {
        // Remote URLs are checked against the policy's git.remotes whenever they are used (ADR 0012).
        ["remote"] = new(StringComparer.Ordinal) { "url", "pushurl", "fetch", "push", "tagopt", "prune" },
        ["branch"] = new(StringComparer.Ordinal) { "remote", "pushremote", "merge", "description" },
    };

    /// <summary>Parses <paramref name="text"/> strictly; the entries, or the first problem with its line.</summary>
    public static bool TryParse(string text, out List<GitConfigEntry> entries, out string? error)
    {
        entries = [];
        error = null;
        string? section = null, subsection = null;
        var i = 0;
        var line = 1;
        if (text.StartsWith('\uFEFF')) i = 1;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '\n') { i++; line++; continue; }
            if (c is ' ' or '\t' or '\r') { i++; continue; }
            if (c is '#' or ';') { i = SkipToEndOfLine(text, i); continue; }
            if (c == '[')
            {
                if (!TryHeader(text, ref i, out section, out subsection, out error)) { error = $"line {line}: {error}"; return false; }
                if (!AtEndOfLine(text, ref i)) { error = $"line {line}: text after a section header"; return false; }
                continue;
            }
            if (!char.IsAsciiLetter(c)) { error = $"line {line}: unexpected character {Show(c)}"; return false; }
            var start = i;
            while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '-')) i++;
            var key = text[start..i].ToLowerInvariant();
            if (section is null) { error = $"line {line}: a key outside any section"; return false; }
            while (i < text.Length && text[i] is ' ' or '\t') i++;
            if (i < text.Length && text[i] == '=')
            {
                i++;
                if (!SkipValue(text, ref i, out error)) { error = $"line {line}: {error}"; return false; }
            }
            else if (!AtEndOfLine(text, ref i)) { error = $"line {line}: expected '=' after '{key}'"; return false; }
            entries.Add(new GitConfigEntry(section, subsection, key, line));
        }
        return true;
    }

    /// <summary>The names of every entry outside the allowlist (empty when the file may be used).</summary>
    public static IReadOnlyList<string> Disallowed(IEnumerable<GitConfigEntry> entries) =>
        [.. entries.Where(e => !Allowed(e)).Select(e => e.Name).Distinct(StringComparer.Ordinal)];

    private static bool Allowed(GitConfigEntry e) => e.Subsection is null
        ? Plain.Contains(e.Name)
        : Subsectioned.TryGetValue(e.Section, out var keys) && keys.Contains(e.Key) && e.Subsection.All(ch => ch >= 0x20 && ch != 0x7F);

    // [section] or [section "subsection"]; section names are letters, digits and '-' (no deprecated "a.b" form).
    private static bool TryHeader(string text, ref int i, out string? section, out string? subsection, out string? error)
    {
        section = subsection = null;
        error = null;
        i++; // '['
        var start = i;
        while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '-')) i++;
        if (i == start) { error = "empty or invalid section name"; return false; }
        section = text[start..i].ToLowerInvariant();
        if (i < text.Length && text[i] == ']') { i++; return true; }
        if (i >= text.Length || text[i] != ' ') { error = $"invalid section header for '{section}'"; return false; }
        while (i < text.Length && text[i] == ' ') i++;
        if (i >= text.Length || text[i] != '"') { error = "a subsection must be quoted"; return false; }
        i++;
        var sub = new StringBuilder();
        while (true)
        {
            if (i >= text.Length || text[i] == '\n') { error = "unterminated subsection name"; return false; }
            var c = text[i++];
            if (c == '"') break;
            if (c == '\\')
            {
                if (i >= text.Length || text[i] is not ('"' or '\\')) { error = "unsupported escape in a subsection name"; return false; }
                c = text[i++];
            }
            if (c < 0x20 || c == 0x7F) { error = "control character in a subsection name"; return false; }
            sub.Append(c);
        }
        if (i >= text.Length || text[i] != ']') { error = "expected ']' after the subsection name"; return false; }
        i++;
        subsection = sub.ToString();
        return true;
    }

    // A value as git reads it, up to the end of its line. Continuation lines are refused: a file whose
    // meaning depends on them is not one git init, clone or the agent's own tools need to write.
    private static bool SkipValue(string text, ref int i, out string? error)
    {
        error = null;
        var quoted = false;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '\n')
            {
                if (quoted) { error = "unterminated quoted value"; return false; }
                return true;
            }
            i++;
            if (c == '\r' && i < text.Length && text[i] == '\n') continue;
            if (c == '\0' || (c < 0x20 && c is not '\t' and not '\r')) { error = $"control character {Show(c)} in a value"; return false; }
            if (c == '"') { quoted = !quoted; continue; }
            if (!quoted && c is '#' or ';') { i = SkipToEndOfLine(text, i); return true; }
            if (c == '\\')
            {
                if (i >= text.Length) { error = "a value ends in a backslash"; return false; }
                var next = text[i];
                if (next is '\n' or '\r') { error = "line continuations are not accepted"; return false; }
                if (next is not ('n' or 't' or 'b' or '\\' or '"')) { error = $"unknown escape \\{Show(next)} in a value"; return false; }
                i++;
            }
        }
        if (quoted) { error = "unterminated quoted value"; return false; }
        return true;
    }

    private static bool AtEndOfLine(string text, ref int i)
    {
        while (i < text.Length && text[i] is ' ' or '\t' or '\r') i++;
        if (i < text.Length && text[i] is '#' or ';') { i = SkipToEndOfLine(text, i); return true; }
        return i >= text.Length || text[i] == '\n';
    }

    private static int SkipToEndOfLine(string text, int i)
    {
        var nl = text.IndexOf('\n', i);
        return nl < 0 ? text.Length : nl;
    }

    private static string Show(char c) => c is >= ' ' and < (char)0x7F ? $"'{c}'" : $"U+{(int)c:X4}";
}
