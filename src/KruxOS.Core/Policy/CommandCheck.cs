using System.Collections.Frozen;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Policy;

/// <summary>
/// The <c>process.run</c> part of the system protections (<see cref="SystemProtections.DangerousCommands"/>):
/// recognises mass-destruction commands in a call's command line.
/// <para>The command and its arguments are joined into one line and read as shell text, so <c>sh -c "…"</c>
/// scripts are inspected too. The line is split into simple commands at shell separators, and each command's
/// program is found by looking through shell keywords (<c>if</c>, <c>{</c>, <c>!</c>, …), variable assignments,
/// wrappers (<c>sudo</c>, <c>env</c>, <c>timeout</c>, <c>xargs</c>, …: their options, option values and leading
/// operands are skipped) and <c>sh -c</c>. A shell that reads its script from standard input has the call's
/// <c>stdin</c> checked as a command line; an <c>xargs</c> command also gets the words it would read (the call's
/// <c>stdin</c>, or the previous command's words) as operands.</para>
/// <para>The check errs on the side of blocking: a harmless line that merely looks destructive may be refused.
/// The sandbox (read-only system root, no network) is the second line of defence, not this check.</para>
/// </summary>
internal static class CommandCheck
{
    /// <summary>The longest line read, in characters (see <see cref="SystemProtections.MaxCheckedCommandLength"/>).</summary>
    public const int MaxLength = 64 * 1024;

    private static readonly string TooLong = $"longer than {MaxLength} characters: too long to check";

    /// <summary>Why a <c>process.run</c> call (<c>command</c>, <c>args</c>, <c>stdin</c>) is a mass-destruction command, or null.</summary>
    public static string? DangerousCommand(JsonElement arguments)
    {
        var line = new StringBuilder();
        if (arguments.TryGetProperty("command", out var command) && command.ValueKind == JsonValueKind.String)
            line.Append(command.GetString());
        if (arguments.TryGetProperty("args", out var args) && args.ValueKind == JsonValueKind.Array)
            foreach (var a in args.EnumerateArray())
            {
                if (line.Length > MaxLength) break; // enough to refuse; no need to copy the rest
                line.Append(' ').Append(a.ValueKind == JsonValueKind.String ? a.GetString() : a.GetRawText());
            }
        var stdin = arguments.TryGetProperty("stdin", out var input) && input.ValueKind == JsonValueKind.String ? input.GetString() : null;
        return DangerousCommandLine(line.ToString(), stdin);
    }

    /// <summary>
    /// Why a shell command line is a mass-destruction command, or null. <paramref name="stdin"/> is what the line
    /// reads on standard input: checked as a script when a shell reads it, used as operands by <c>xargs</c>.
    /// </summary>
    public static string? DangerousCommandLine(string line, string? stdin = null)
    {
        // Every regex below runs in linear time (no backreferences, NonBacktracking) and the line is capped, so the
        // check's result depends on its input alone, never on how long it took.
        if (line.Length > MaxLength) return "command line " + TooLong;
        if (IsForkBomb(line)) return "fork bomb";
        if (PipeToShell.IsMatch(line) || ShellFromDownload.IsMatch(line)) return "downloaded script piped into a shell";
        foreach (Match m in Redirect.Matches(line))
            if (DangerousTarget(Unquote(m.Groups["target"].Value), allowDevNull: true) is { } t)
                return $"output redirected to '{t}'";
        var scan = new Scan(stdin);
        List<string>? previous = null;
        foreach (var segment in Separators.Split(line))
        {
            var tokens = Tokens(segment);
            if (tokens.Count == 0) continue;
            if (DangerousSegment(tokens, previous, scan) is { } why) return why;
            previous = tokens;
        }
        if (scan.ShellReadsStdin && !string.IsNullOrWhiteSpace(stdin))
        {
            if (stdin.Length > MaxLength) return "script a shell reads from stdin " + TooLong;
            if (DangerousCommandLine(stdin) is { } inScript) return $"{inScript} (in the script a shell reads from stdin)";
        }
        return null;
    }

    // What one line's commands have in common: its standard input.
    private sealed class Scan(string? stdin)
    {
        private List<string>? _stdinWords;

        /// <summary>Set when some command of the line is a shell that reads its script from standard input.</summary>
        public bool ShellReadsStdin { get; set; }

        /// <summary>The line's standard input is read by xargs but is too long to check.</summary>
        public bool StdinTooLong => stdin is { Length: > MaxLength };

        /// <summary>The words of the line's standard input (what an <c>xargs</c> at the start of the line reads).</summary>
        public List<string> StdinWords => _stdinWords ??= stdin is null ? [] : Tokens(stdin);
    }

    // One simple command: its program, found through wrappers and 'sh -c', and what it is given.
    private static string? DangerousSegment(List<string> tokens, List<string>? previous, Scan scan)
    {
        var viaXargs = false;
        var at = ResolveProgram(tokens, 0, scan, ref viaXargs);
        if (at < 0) return null;
        var exe = BaseName(tokens[at]);
        var rest = tokens.GetRange(at + 1, tokens.Count - at - 1);
        var operands = rest.Where(t => !t.StartsWith('-')).ToList();
        // xargs appends the words it reads to the command: the line's stdin, or what the previous command printed,
        // approximated by that command's own words (the paths given to 'find' or 'echo'). As with find, destroying
        // what those words name is dangerous when they are, lie under or contain a system path.
        if (viaXargs && previous is null && scan.StdinTooLong) return "stdin read by xargs " + TooLong;
        if (viaXargs && (Destroying.Contains(exe) || exe == "touch" || (exe is "sed" or "perl" && InPlace(rest))))
            foreach (var word in previous ?? scan.StdinWords)
                if (!word.StartsWith('-') && HoldsProtectedPath(word) is { } t) return $"xargs {exe} of '{t}'";
        bool Flag(char shortFlag, string longFlag) =>
            rest.Any(t => t == longFlag || (t.Length > 1 && t[0] == '-' && t[1] != '-' && t.Contains(shortFlag)));

        switch (exe)
        {
            case "rm":
                if (rest.Contains("--no-preserve-root")) return "rm --no-preserve-root";
                var recursive = Flag('r', "--recursive") || Flag('R', "--recursive");
                foreach (var o in operands)
                    if (DangerousTarget(o, allowDevNull: false, rootCounts: recursive) is { } t) return $"{(recursive ? "recursive " : "")}rm of '{t}'";
                break;
            case "mkfs" or "mke2fs" or "wipefs":
                return $"{exe} formats or wipes a device";
            case var mk when mk.StartsWith("mkfs.", StringComparison.Ordinal):
                return $"{exe} formats a device";
            case "mkswap" or "fdisk" or "sfdisk" or "parted" or "shred" or "blkdiscard":
                if (operands.Any(o => o.StartsWith("/dev/", StringComparison.Ordinal))) return $"{exe} on a raw device";
                if (exe == "shred" && operands.Any(o => DangerousTarget(o, false) is not null)) return "shred of a system file";
                break;
            case "dd":
                foreach (var o in rest)
                    if (o.StartsWith("of=", StringComparison.Ordinal) && DangerousTarget(o[3..], allowDevNull: true) is { } t)
                        return $"dd writing to '{t}'";
                break;
            case "chmod" or "chown" or "chgrp":
                if (Flag('R', "--recursive"))
                    foreach (var o in operands)
                        if (DangerousTarget(o, false, rootCounts: true) is { } t) return $"recursive {exe} of '{t}'";
                break;
            case "cp" or "mv" or "install" or "ln" or "rsync" or "tee" or "truncate" or "touch" or "unlink" or "rmdir":
                var targets = exe is "cp" or "install" or "ln" or "rsync"
                    ? (operands.Count > 0 ? [operands[^1]] : new List<string>())
                    : operands;
                for (var k = 0; k + 1 < rest.Count; k++)
                    if (rest[k] is "-t" or "--target-directory") targets = [.. targets, rest[k + 1]];
                foreach (var o in targets)
                    if (DangerousTarget(o, allowDevNull: true) is { } t) return $"{exe} writing to '{t}'";
                break;
            case "sed" or "perl":
                if (InPlace(rest))
                    foreach (var o in operands)
                        if (DangerousTarget(o, false) is { } t) return $"{exe} -i editing '{t}'";
                break;
            case "find":
                return DangerousFind(rest, scan);
        }
        return null;
    }

    private static bool InPlace(List<string> args) => args.Any(t => t.StartsWith("-i", StringComparison.Ordinal) || t == "--in-place");

    /// <summary>
    /// The index of the program a command runs, looking through shell keywords, <c>NAME=value</c> words, wrappers
    /// and <c>sh -c</c>; -1 when there is none. A shell without <c>-c</c> is the program itself (it runs a script
    /// file or reads one from stdin, which sets <see cref="Scan.ShellReadsStdin"/>).
    /// </summary>
    private static int ResolveProgram(List<string> tokens, int i, Scan scan, ref bool viaXargs)
    {
        while (true)
        {
            while (i < tokens.Count && (Keywords.Contains(tokens[i]) || IsAssignment(tokens[i]))) i++;
            if (i >= tokens.Count) return -1;
            var name = BaseName(tokens[i]);
            if (Shells.Contains(name))
            {
                // "sh -c 'script'": the script's first command is what runs (later ones are separate segments).
                var c = tokens.FindIndex(i + 1, t => t == "--command" || (t.Length > 1 && t[0] == '-' && t[1] != '-' && t.Contains('c')));
                if (c < 0)
                {
                    scan.ShellReadsStdin = true;
                    return i;
                }
                i = c + 1;
                continue;
            }
            if (!Wrappers.TryGetValue(name, out var wrapper)) return i;
            viaXargs |= name == "xargs";
            var next = wrapper.ProgramIndex(tokens, i + 1);
            if (next < 0)
            {
                // 'sudo -s', 'su', 'chroot /': an interactive shell, which reads its commands from stdin.
                if (wrapper.ShellWithoutCommand) scan.ShellReadsStdin = true;
                return -1;
            }
            i = next;
        }
    }

    private static bool IsAssignment(string token) => token.Contains('=') && !token.StartsWith('-');

    private static readonly FrozenSet<string> Shells = FrozenSet.Create(StringComparer.Ordinal,
        "sh", "bash", "rbash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh");

    // Shell reserved words that may precede a command ('(' and ')' are dropped with the quotes, see Tokens).
    private static readonly FrozenSet<string> Keywords = FrozenSet.Create(StringComparer.Ordinal,
        "!", "{", "}", "if", "then", "else", "elif", "do", "while", "until", "coproc");

    /// <summary>
    /// How a program that runs another program reads its own arguments, so the wrapped program is found after them.
    /// </summary>
    /// <param name="ValueShorts">Short options that take a value (attached, <c>-n10</c>, or as the next word, <c>-n 10</c>).</param>
    /// <param name="ValueLongs">Long options that take a value as the next word (<c>--user root</c>); <c>--user=root</c> is always one word.</param>
    /// <param name="CommandOptions">Options the command line follows directly (<c>su -c</c>, <c>env -S</c>, <c>flock -c</c>).</param>
    /// <param name="Operands">Operands before the command: <c>timeout</c>'s duration, <c>chroot</c>'s new root, <c>flock</c>'s lock file.</param>
    /// <param name="NoOperandShorts">Short options that replace the operand (<c>runuser -u user cmd</c>).</param>
    /// <param name="Assignments">Whether <c>NAME=value</c> words may precede the command (<c>env</c>).</param>
    /// <param name="ShellWithoutCommand">Whether the wrapper starts an interactive shell when no command is given.</param>
    private sealed record Wrapper(
        string ValueShorts = "",
        string[]? ValueLongs = null,
        string[]? CommandOptions = null,
        int Operands = 0,
        string NoOperandShorts = "",
        bool Assignments = false,
        bool ShellWithoutCommand = false)
    {
        /// <summary>The index of the wrapped program in <paramref name="tokens"/>, or -1 when there is none.</summary>
        public int ProgramIndex(List<string> tokens, int i)
        {
            var operands = Operands;
            while (i < tokens.Count)
            {
                var t = tokens[i];
                if (t == "--") return i + 1 + operands < tokens.Count ? i + 1 + operands : -1;
                if (CommandOptions is { } commandOptions)
                {
                    foreach (var option in commandOptions)
                    {
                        if (t == option) return i + 1 < tokens.Count ? i + 1 : -1;
                        if (option.StartsWith("--", StringComparison.Ordinal) && t.StartsWith(option + "=", StringComparison.Ordinal))
                        {
                            tokens[i] = t[(option.Length + 1)..]; // --command=rm: the word holds the program
                            return i;
                        }
                    }
                }
                if (t == "-") { i++; continue; } // 'su -', 'env -'
                if (t.Length > 1 && t[0] == '-')
                {
                    if (t[1] == '-')
                    {
                        i += !t.Contains('=') && ValueLongs is { } longs && longs.Contains(t) ? 2 : 1;
                        continue;
                    }
                    var next = i + 1;
                    for (var k = 1; k < t.Length; k++)
                    {
                        if (NoOperandShorts.Contains(t[k])) operands = 0;
                        if (CommandOptions is { } commands && commands.Contains("-" + t[k]))
                        {
                            if (k == t.Length - 1) return next < tokens.Count ? next : -1;
                            tokens[i] = t[(k + 1)..]; // 'su -crm': the rest of the word is the program
                            return i;
                        }
                        if (ValueShorts.Contains(t[k]))
                        {
                            if (k == t.Length - 1) next++; // the value is the next word; otherwise it is the rest of this one
                            break;
                        }
                    }
                    i = next;
                    continue;
                }
                if (Assignments && IsAssignment(t)) { i++; continue; }
                if (operands > 0) { operands--; i++; continue; }
                return i;
            }
            return -1;
        }
    }

    private static readonly FrozenDictionary<string, Wrapper> Wrappers = new Dictionary<string, Wrapper>(StringComparer.Ordinal)
    {
        ["sudo"] = new("CDghprRtTUu", ["--close-from", "--chdir", "--group", "--host", "--prompt", "--role", "--chroot", "--type",
            "--command-timeout", "--other-user", "--user"], ShellWithoutCommand: true),
        ["doas"] = new("uC", ShellWithoutCommand: true),
        ["su"] = new("sgGw", ["--shell", "--group", "--supp-group", "--whitelist-environment"], ["-c", "--command", "--session-command"],
            Operands: 1, ShellWithoutCommand: true),
        ["runuser"] = new("sgGwu", ["--shell", "--group", "--supp-group", "--whitelist-environment", "--user"],
            ["-c", "--command", "--session-command"], Operands: 1, NoOperandShorts: "u", ShellWithoutCommand: true),
        ["sg"] = new(CommandOptions: ["-c"], Operands: 1, ShellWithoutCommand: true),
        ["env"] = new("uC", ["--unset", "--chdir"], ["-S", "--split-string"], Assignments: true),
        ["nice"] = new("n", ["--adjustment"]),
        ["ionice"] = new("cnpPu", ["--class", "--classdata", "--pid", "--pgid", "--uid"]),
        ["chrt"] = new("TPD", ["--sched-runtime", "--sched-period", "--sched-deadline"], Operands: 1),
        ["taskset"] = new(Operands: 1),
        ["prlimit"] = new("p", ["--pid"]),
        ["timeout"] = new("sk", ["--signal", "--kill-after"], Operands: 1),
        ["xargs"] = new("adEILnPs", ["--arg-file", "--delimiter", "--max-args", "--max-procs", "--max-chars", "--process-slot-var"]),
        ["setsid"] = new(),
        ["stdbuf"] = new("ioe", ["--input", "--output", "--error"]),
        ["chroot"] = new(ValueLongs: ["--userspec", "--groups"], Operands: 1, ShellWithoutCommand: true),
        ["unshare"] = new("SGRw", ["--setuid", "--setgid", "--root", "--wd", "--map-user", "--map-group", "--map-users", "--map-groups",
            "--propagation", "--setgroups"], ShellWithoutCommand: true),
        ["nsenter"] = new("tSG", ["--target", "--setuid", "--setgid"], ShellWithoutCommand: true),
        ["flock"] = new("Ew", ["--conflict-exit-code", "--timeout"], ["-c", "--command"], Operands: 1),
        ["nohup"] = new(),
        ["command"] = new(),
        ["builtin"] = new(),
        ["exec"] = new("a"),
        ["eval"] = new(),
        ["time"] = new("fo", ["--format", "--output"]),
        ["busybox"] = new(),
        ["strace"] = new("abeEIoOpPsSuUX", ["--output", "--expr", "--attach", "--user", "--string-limit"]),
        ["watch"] = new("n", ["--interval"]),
    }.ToFrozenDictionary(StringComparer.Ordinal);

    // Programs that, run by 'find -exec' on what it found, delete or overwrite it.
    private static readonly FrozenSet<string> Destroying = FrozenSet.Create(StringComparer.Ordinal,
        "rm", "rmdir", "unlink", "shred", "truncate", "mv", "dd", "chmod", "chown", "chgrp", "tee", "wipefs");

    /// <summary>
    /// <c>find</c> that deletes (<c>-delete</c>, or <c>-exec</c> of a destroying program) in a tree that holds a
    /// protected path, an <c>-exec</c> command that is dangerous in itself, or <c>-fprint</c> to a protected file.
    /// </summary>
    private static string? DangerousFind(List<string> args, Scan scan)
    {
        var k = 0;
        while (k < args.Count && (args[k] is "-H" or "-L" or "-P" or "-D" || args[k].StartsWith("-O", StringComparison.Ordinal)))
            k += args[k] == "-D" ? 2 : 1;
        var starts = new List<string>();
        for (; k < args.Count && !args[k].StartsWith('-') && args[k] is not "!" and not ","; k++) starts.Add(args[k]);
        if (starts.Count == 0) starts.Add(".");

        string? deletes = null;
        for (var j = k; j < args.Count; j++)
        {
            var t = args[j];
            if (t == "-delete") deletes ??= "-delete";
            else if (t is "-exec" or "-execdir" or "-ok" or "-okdir")
            {
                // The command runs once per found file ('{}'): what it names itself must be harmless, and what it does
                // to the found files is judged with the starting points below.
                var command = args.GetRange(j + 1, args.Count - j - 1)
                    .Select(w => w.Replace("{}", string.Empty, StringComparison.Ordinal)).Where(w => w.Length > 0).ToList();
                if (DangerousSegment(command, null, scan) is { } why) return $"find {t}: {why}";
                var viaXargs = false;
                var at = ResolveProgram(command, 0, scan, ref viaXargs);
                if (at >= 0)
                {
                    var program = BaseName(command[at]);
                    if (Destroying.Contains(program) || Shells.Contains(program)
                        || (program is "sed" or "perl" && InPlace(command.GetRange(at + 1, command.Count - at - 1))))
                        deletes ??= $"{t} {program}";
                }
            }
            else if (t is "-fprint" or "-fprint0" or "-fprintf" or "-fls" && j + 1 < args.Count
                     && DangerousTarget(args[j + 1], allowDevNull: true) is { } written)
                return $"find {t} writing to '{written}'";
        }
        if (deletes is null) return null;
        foreach (var start in starts)
            if (HoldsProtectedPath(start) is { } tree) return $"find {deletes} in '{tree}'";
        return null;
    }

    // A tree is protected when it is, lies under, or contains a system path ('/', '/var', '/data' contain some).
    private static string? HoldsProtectedPath(string token)
    {
        if (DangerousTarget(token, allowDevNull: false) is { } t) return t;
        var glob = token.IndexOfAny(['*', '?', '[']);
        var stem = glob >= 0 ? token[..glob] : token;
        if (!PolicyPaths.TryCanonicalize(stem, out var path)) return token;
        foreach (var root in SystemProtections.SystemPaths)
            if (PolicyPaths.IsUnder(root, path)) return token;
        return null;
    }

    // Words of a command as the shell would see them, roughly: quotes, backslashes and parentheses are dropped
    // ('\rm' runs rm; '(rm -rf /etc)' is a subshell; find's '(' and ')' group tests).
    private static List<string> Tokens(string segment)
    {
        var words = segment.Split((char[])[' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var tokens = new List<string>(words.Length);
        foreach (var word in words)
        {
            var token = Unquote(word);
            if (token.Length > 0) tokens.Add(token);
        }
        return tokens;
    }

    // A target is dangerous when it is a system path, a raw device, or climbs above '/'.
    private static string? DangerousTarget(string token, bool allowDevNull, bool rootCounts = false)
    {
        if (token.Length == 0 || token[0] == '&') return null;
        var glob = token.IndexOfAny(['*', '?', '[']);
        var stem = glob >= 0 ? token[..glob] : token;
        if (stem.Length == 0) return null; // "*" alone expands inside the working directory
        if (!PolicyPaths.TryCanonicalize(stem, out var path)) return token;
        if (allowDevNull && path is "/dev/null" or "/dev/stdout" or "/dev/stderr" or "/dev/tty" or "/dev/zero"
            || path.StartsWith("/dev/fd/", StringComparison.Ordinal))
            return null;
        if (path == "/" && (rootCounts || glob >= 0)) return token;
        if (glob >= 0 && !stem.EndsWith('/'))
        {
            // "/e*" could expand to "/etc": treat a partial segment as matching any protected root it could start.
            foreach (var root in SystemProtections.SystemPaths)
                if (root.StartsWith(path, StringComparison.Ordinal)) return token;
        }
        if (SystemProtections.SystemPathContaining(path) is not null) return token;
        if (rootCounts && path is "/home" or "/var" or "/data" or "/srv" or "/workspace") return token;
        return null;
    }

    private static string BaseName(string token)
    {
        var slash = token.LastIndexOf('/');
        return slash >= 0 ? token[(slash + 1)..] : token;
    }

    private static string Unquote(string token)
    {
        if (token.AsSpan().IndexOfAny("\"'\\()") < 0) return token;
        var sb = new StringBuilder(token.Length);
        foreach (var c in token)
            if (c is not ('"' or '\'' or '\\' or '(' or ')')) sb.Append(c);
        return sb.ToString();
    }

    // A function whose body pipes it into itself: 'f() { f | f & }', ':(){ :|:& };:'. Found in two steps, a
    // linear-time regex for the definition and a scan of its body, because the one-regex form needs a backreference.
    private static bool IsForkBomb(string line)
    {
        if (ForkLoop.IsMatch(line)) return true;
        foreach (Match m in FunctionDefinition.Matches(line))
            if (PipesIntoItself(m.Groups["body"].ValueSpan, m.Groups["f"].ValueSpan)) return true;
        return false;
    }

    // True when the body holds 'f | f' or 'f |& f' (spaces optional), f being a whole word.
    private static bool PipesIntoItself(ReadOnlySpan<char> body, ReadOnlySpan<char> f)
    {
        for (var p = 0; p < body.Length; p++)
        {
            if (body[p] != '|') continue;
            var left = body[..p].TrimEnd();
            var right = body[(p + 1)..].TrimStart();
            if (right.StartsWith('&')) right = right[1..].TrimStart();
            if (left.EndsWith(f, StringComparison.Ordinal) && right.StartsWith(f, StringComparison.Ordinal)
                && (left.Length == f.Length || !IsWordChar(left[^(f.Length + 1)]))
                && (right.Length == f.Length || !IsWordChar(right[f.Length])))
                return true;
        }
        return false;
    }

    private static bool IsWordChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';

    // Linear-time matching (no timeout needed); none of these patterns uses a backreference or lookaround.
    private const RegexOptions Linear = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;

    private static readonly Regex FunctionDefinition = new(@"(?<f>[A-Za-z_][A-Za-z0-9_]*|:)\s*\(\s*\)\s*\{(?<body>[^}]*)", Linear);

    private static readonly Regex ForkLoop = new(@"fork\s+while\s+fork|while\s*\(?\s*(?:true|1)\s*\)?\s*;?\s*(?:do)?\s*fork", Linear);

    private static readonly Regex PipeToShell = new(
        @"\b(?:curl|wget|fetch)\b[^|;&]*\|\s*(?:sudo\s+)?(?:env\s+)?(?:/[\w/]*/)?(?:ba|z|k|da|fi)?sh\b|\b(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node)\b",
        Linear);

    private static readonly Regex ShellFromDownload = new(
        @"\b(?:ba|z|k|da)?sh\s+(?:-c\s+)?[""']?\s*(?:<\(|\$\()\s*(?:curl|wget)\b|\beval\s+[""']?\$\(\s*(?:curl|wget)\b", Linear);

    private static readonly Regex Redirect = new(@"(?:^|[^<>&0-9])[0-9]?>{1,2}\|?\s*(?<target>[^\s;&|()<>]+)", Linear);

    // '(' and ')' are not separators: they are dropped from words instead (see Tokens), so find's grouping stays in its command.
    private static readonly Regex Separators = new(@"\|\||&&|[;|&\n`]|\$\(", Linear);
}
