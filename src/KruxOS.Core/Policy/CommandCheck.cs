using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Policy;

/// <summary>
/// The <c>process.run</c> part of the system protections (<see cref="SystemProtections.DangerousCommands"/>):
/// recognises mass-destruction commands in a call's command line.
/// </summary>
internal static partial class CommandCheck
{
    /// <summary>
    /// Why a <c>process.run</c> call is a mass-destruction command, or null. The command and its arguments are
    /// joined into one line, so <c>sh -c "…"</c> scripts are inspected too.
    /// </summary>
    public static string? DangerousCommand(JsonElement arguments)
    {
        var line = new StringBuilder();
        if (arguments.TryGetProperty("command", out var command) && command.ValueKind == JsonValueKind.String)
            line.Append(command.GetString());
        if (arguments.TryGetProperty("args", out var args) && args.ValueKind == JsonValueKind.Array)
            foreach (var a in args.EnumerateArray())
                line.Append(' ').Append(a.ValueKind == JsonValueKind.String ? a.GetString() : a.GetRawText());
        return DangerousCommandLine(line.ToString());
    }

    /// <summary>Why a shell command line is a mass-destruction command, or null.</summary>
    public static string? DangerousCommandLine(string line)
    {
        try
        {
            if (ForkBomb().IsMatch(line)) return "fork bomb";
            if (PipeToShell().IsMatch(line) || ShellFromDownload().IsMatch(line)) return "downloaded script piped into a shell";
            foreach (Match m in Redirect().Matches(line))
                if (DangerousTarget(Unquote(m.Groups["target"].Value), allowDevNull: true) is { } t)
                    return $"output redirected to '{t}'";
        }
        catch (RegexMatchTimeoutException)
        {
            return "command too complex to check";
        }
        foreach (var segment in Separators().Split(line))
            if (DangerousSegment(segment) is { } why) return why;
        return null;
    }

    private static string? DangerousSegment(string segment)
    {
        var tokens = segment.Split((char[])[' ', '\t', '\r', '\n'], StringSplitOptions.RemoveEmptyEntries).Select(Unquote).Where(t => t.Length > 0).ToList();
        var i = 0;
        while (i < tokens.Count && (tokens[i] is "sudo" or "doas" or "env" or "nohup" or "exec" or "command" or "time" or "nice" or "busybox"
               || (tokens[i].Contains('=') && !tokens[i].StartsWith('-')) || (i > 0 && tokens[i - 1] is "sudo" or "doas" && tokens[i].StartsWith('-'))))
            i++;
        if (i >= tokens.Count) return null;
        var exe = BaseName(tokens[i]);
        // "sh -c 'script'": the script's first command is what runs (later ones are separate segments).
        while (exe is "sh" or "bash" or "zsh" or "dash" or "ksh" or "ash")
        {
            var c = tokens.FindIndex(i + 1, t => t.Length > 1 && t[0] == '-' && t[1] != '-' && t.Contains('c'));
            if (c < 0 || c + 1 >= tokens.Count) return null;
            i = c + 1;
            exe = BaseName(tokens[i]);
        }
        var rest = tokens.Skip(i + 1).ToList();
        var operands = rest.Where(t => !t.StartsWith('-')).ToList();
        bool Flag(char shortFlag, string longFlag) =>
            rest.Any(t => t == longFlag || (t.Length > 1 && t[0] == '-' && t[1] != '-' && t.Contains(shortFlag)));

        switch (exe)
        {
            case "rm":
                if (rest.Contains("--no-preserve-root")) return "rm --no-preserve-root";
                if (Flag('r', "--recursive") || Flag('R', "--recursive"))
                    foreach (var o in operands)
                        if (DangerousTarget(o, allowDevNull: false, rootCounts: true) is { } t) return $"recursive rm of '{t}'";
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
                if (rest.Any(t => t == "-i" || t.StartsWith("-i", StringComparison.Ordinal) || t == "--in-place"))
                    foreach (var o in operands)
                        if (DangerousTarget(o, false) is { } t) return $"{exe} -i editing '{t}'";
                break;
        }
        return null;
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

    private static string Unquote(string token) => token.Replace("\"", string.Empty, StringComparison.Ordinal).Replace("'", string.Empty, StringComparison.Ordinal);

    // Generous enough that a loaded machine never turns an ordinary command into a false block, small
    // enough that a pathological input cannot stall a decision for long; a timeout still fails closed.
    private const int RegexBudgetMs = 500;

    [GeneratedRegex(@"(?<f>[A-Za-z_][A-Za-z0-9_]*|:)\s*\(\s*\)\s*\{[^}]*\k<f>\s*\|\s*&?\s*\k<f>|fork\s+while\s+fork|while\s*\(?\s*(?:true|1)\s*\)?\s*;?\s*(?:do)?\s*fork", RegexOptions.CultureInvariant, RegexBudgetMs)]
    private static partial Regex ForkBomb();

    [GeneratedRegex(@"\b(?:curl|wget|fetch)\b[^|;&]*\|\s*(?:sudo\s+)?(?:env\s+)?(?:/[\w/]*/)?(?:ba|z|k|da|fi)?sh\b|\b(?:curl|wget)\b[^|;&]*\|\s*(?:sudo\s+)?(?:python[0-9.]*|perl|ruby|node)\b", RegexOptions.CultureInvariant, RegexBudgetMs)]
    private static partial Regex PipeToShell();

    [GeneratedRegex(@"\b(?:ba|z|k|da)?sh\s+(?:-c\s+)?[""']?\s*(?:<\(|\$\()\s*(?:curl|wget)\b|\beval\s+[""']?\$\(\s*(?:curl|wget)\b", RegexOptions.CultureInvariant, RegexBudgetMs)]
    private static partial Regex ShellFromDownload();

    [GeneratedRegex(@"(?:^|[^<>&0-9])[0-9]?>{1,2}\|?\s*(?<target>[^\s;&|()<>]+)", RegexOptions.CultureInvariant, RegexBudgetMs)]
    private static partial Regex Redirect();

    [GeneratedRegex(@"\|\||&&|[;|&\n`]|\$\(|\(|\)", RegexOptions.CultureInvariant, RegexBudgetMs)]
    private static partial Regex Separators();
}
