using System.Text;
using System.Text.Json.Nodes;

namespace KruxOS.CliHook;

/// <summary>
/// Maps a shell command line (Claude Code's <c>Bash</c>, Codex's shell tools) to capability calls. A
/// <em>simple</em> command — plain words, optionally quoted, with no pipes, redirections, <c>;</c>, <c>&amp;&amp;</c>,
/// subshells, variables, globs or assignments — is split into words; a few well-known ones map to their own
/// capabilities (<c>cat</c>, <c>ls</c>, <c>grep</c>, <c>curl</c>, <c>git …</c>), any other runs as
/// <c>process.run</c> with the executable and its arguments. Everything else is <c>process.run</c> of
/// <c>sh -c</c> with the whole command, so policy always sees what would really run.
/// </summary>
public static class ShellCommand
{
    private const string Metacharacters = "|&;<>()$`\\*?[]{}!\n\r";

    /// <summary>The words of a simple command, or null when the line needs a shell to be understood.</summary>
    public static IReadOnlyList<string>? SimpleWords(string command)
    {
        var words = new List<string>();
        var current = new StringBuilder();
        var inWord = false;
        var quotedInWord = false;
        for (var i = 0; i < command.Length; i++)
        {
            var c = command[i];
            if (c is ' ' or '\t')
            {
                if (inWord) { words.Add(current.ToString()); current.Clear(); inWord = false; quotedInWord = false; }
                continue;
            }
            if (c == '\'')
            {
                var end = command.IndexOf('\'', i + 1);
                if (end < 0) return null;
                current.Append(command, i + 1, end - i - 1);
                i = end;
                inWord = quotedInWord = true;
                continue;
            }
            if (c == '"')
            {
                var end = command.IndexOf('"', i + 1);
                if (end < 0) return null;
                var inner = command.AsSpan(i + 1, end - i - 1);
                // Inside double quotes the shell still expands $ and `…`, and \ escapes: not simple.
                if (inner.IndexOfAny("$`\\!") >= 0) return null;
                current.Append(inner);
                i = end;
                inWord = quotedInWord = true;
                continue;
            }
            if (Metacharacters.Contains(c)) return null;
            // ~ (home) and # (comment) are special only where a word starts: HEAD~1 and a#b are plain.
            if (c is '~' or '#' && !inWord) return null;
            // NAME=value before the command is an assignment, which changes what runs.
            if (c == '=' && words.Count == 0 && !quotedInWord) return null;
            current.Append(c);
            inWord = true;
        }
        if (inWord) words.Add(current.ToString());
        return words.Count == 0 ? null : words;
    }

    /// <summary>Maps a command line. <paramref name="timeoutMs"/> and <paramref name="background"/> come from the client's tool input.</summary>
    public static CapabilityCall Map(string command, string cwd, int? timeoutMs = null, bool background = false)
    {
        var words = SimpleWords(command);
        if (words is null) return ProcessRun("sh", ["-c", command], timeoutMs, background);
        return MapWords(words, cwd, timeoutMs, background);
    }

    /// <summary>Maps an already split command (a Codex argv, or the words of a simple line).</summary>
    public static CapabilityCall MapWords(IReadOnlyList<string> words, string cwd, int? timeoutMs = null, bool background = false)
    {
        var rest = words.Skip(1).ToList();
        if (!background && Known(words[0], rest, cwd) is { } mapped) return mapped;
        return ProcessRun(words[0], rest, timeoutMs, background);
    }

    private static CapabilityCall? Known(string program, List<string> args, string cwd) => program switch
    {
        "cat" => args is [var file] && !file.StartsWith('-') ? Call("filesystem.read", ("path", Path(file, cwd))) : null,
        "ls" => Ls(args, cwd),
        "grep" => Grep(args, cwd),
        "curl" => Curl(args),
        "git" => args.Count > 0 ? GitCommand.Map(args[0], args.Skip(1).ToList(), cwd) : null,
        _ => null,
    };

    private static CapabilityCall? Ls(List<string> args, string cwd)
    {
        var hidden = false;
        string? dir = null;
        foreach (var a in args)
        {
            if (a is "-a" or "-A") hidden = true;
            else if (a.StartsWith('-') || dir is not null) return null;
            else dir = a;
        }
        var call = Call("filesystem.list", ("path", Path(dir ?? ".", cwd)));
        if (hidden) call.Arguments["include_hidden"] = true;
        return call;
    }

    private static CapabilityCall? Grep(List<string> args, string cwd)
    {
        bool ignoreCase = false, fixedStrings = false;
        var positional = new List<string>();
        foreach (var a in args)
        {
            if (positional.Count == 0 && a.Length > 1 && a[0] == '-' && a[1] != '-')
            {
                foreach (var f in a.AsSpan(1))
                {
                    switch (f)
                    {
                        case 'i': ignoreCase = true; break;
                        case 'F': fixedStrings = true; break;
                        case 'E' or 'r' or 'R' or 'n' or 'H' or 's': break; // extended syntax, recursion, line numbers: the capability does these
                        default: return null;
                    }
                }
                continue;
            }
            positional.Add(a);
        }
        if (positional is not [var pattern, var file] || pattern.Length == 0) return null;
        var call = Call("filesystem.search_content", ("path", Path(file, cwd)), ("pattern", pattern));
        call.Arguments["regex"] = !fixedStrings;
        if (ignoreCase) call.Arguments["case_sensitive"] = false;
        return call;
    }

    private static CapabilityCall? Curl(List<string> args)
    {
        var follow = false;
        string? url = null;
        foreach (var a in args)
        {
            if (a.Length > 1 && a[0] == '-' && a[1] != '-')
            {
                foreach (var f in a.AsSpan(1))
                {
                    if (f == 'L') follow = true;
                    else if (f is not ('s' or 'S' or 'f')) return null; // silent / show errors / fail: output only
                }
                continue;
            }
            if (url is not null || !(a.StartsWith("http://", StringComparison.Ordinal) || a.StartsWith("https://", StringComparison.Ordinal))) return null;
            url = a;
        }
        if (url is null) return null;
        var call = Call("network.http_request", ("url", url), ("method", "GET"));
        call.Arguments["follow_redirects"] = follow;
        return call;
    }

    private static CapabilityCall ProcessRun(string program, IReadOnlyList<string> args, int? timeoutMs, bool background)
    {
        var call = Call("process.run", ("command", program));
        if (args.Count > 0) call.Arguments["args"] = new JsonArray([.. args.Select(a => (JsonNode)JsonValue.Create(a)!)]);
        // The client's timeout is in milliseconds; the capability's in whole seconds (1-3600).
        if (timeoutMs is > 0 and var ms) call.Arguments["timeout"] = Math.Clamp((int)Math.Ceiling(ms / 1000.0), 1, 3600);
        if (background) call.Arguments["background"] = true;
        return call;
    }

    internal static string Path(string p, string cwd) => WorkspacePaths.ToWorkspace(p, cwd);

    internal static CapabilityCall Call(string capability, params (string Name, string Value)[] args)
    {
        var o = new JsonObject();
        foreach (var (name, value) in args) o[name] = value;
        return new CapabilityCall(capability, o);
    }
}
