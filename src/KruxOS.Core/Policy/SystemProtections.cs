using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Policy;

/// <summary>A hard-coded protection: its name (used as <c>system:&lt;name&gt;</c>) and what it blocks.</summary>
public sealed record Protection(string Name, string Description)
{
    /// <summary>The rule reference used in decisions.</summary>
    public string Reference => "system:" + Name;
}

/// <summary>
/// The protections of spec §6.6. They live in code, apply before any policy file, and block even when every
/// policy file is deleted. No policy file can switch them off.
/// </summary>
public static partial class SystemProtections
{
    public static readonly Protection RawSecretAccess = new("deny_raw_secret_access", "secrets.read_raw and secrets.export are never allowed");
    public static readonly Protection AuditTampering = new("deny_audit_tampering", "audit.write, audit.delete and audit.truncate are never allowed");
    public static readonly Protection SystemPolicyChange = new("deny_system_policy_change", "policy.modify_system is never allowed");
    public static readonly Protection OtherAgentsPrivateState = new("deny_other_agents_private_state", "state.read_private / state.write_private of another agent");
    public static readonly Protection SystemPathWrites = new("deny_system_path_writes", "writing, moving or deleting files under system paths (/etc, /usr, /boot, gateway data, …)");
    public static readonly Protection DangerousCommands = new("deny_dangerous_commands", "process.run of mass-destruction commands (rm -r of system paths, mkfs, dd to devices, fork bombs, curl | sh, writes to /etc, …)");
    public static readonly Protection GitRemoteNotAllowed = new("git_remote_not_allowed", "git.clone from a remote that the git.remotes lists of the policy do not allow");
    public static readonly Protection PathEscape = new(PolicyCondition.PathEscape, "paths that climb above '/' are never accepted");
    public static readonly Protection ConditionTimeout = new(PolicyCondition.RegexTimeout, "a 'matches' condition that cannot be decided in time blocks the call");

    /// <summary>Every protection, for reports and <c>agent.policy</c>.</summary>
    public static ImmutableArray<Protection> All { get; } =
        [RawSecretAccess, AuditTampering, SystemPolicyChange, OtherAgentsPrivateState, SystemPathWrites, DangerousCommands, GitRemoteNotAllowed, PathEscape, ConditionTimeout];

    private static readonly FrozenDictionary<string, Protection> Unconditional = new Dictionary<string, Protection>
    {
        ["secrets.read_raw"] = RawSecretAccess,
        ["secrets.export"] = RawSecretAccess,
        ["audit.write"] = AuditTampering,
        ["audit.delete"] = AuditTampering,
        ["audit.truncate"] = AuditTampering,
        ["policy.modify_system"] = SystemPolicyChange,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Directories no capability may write into (lexically, after canonicalisation).</summary>
    public static ImmutableArray<string> SystemPaths { get; } =
    [
        "/etc", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/boot", "/dev", "/proc", "/sys", "/opt", "/root",
        "/var/lib/kruxos", "/data/kruxos/policies", "/data/kruxos/audit", "/data/kruxos/agents", "/data/kruxos/agents.db",
        "/data/kruxos/vault.db", "/data/kruxos/vault_passphrase_hash", "/data/kruxos/.vault-env", "/data/kruxos/approval_queue.db",
        "/data/kruxos/shared", "/data/kruxos/config.yaml", "/data/kruxos/models.yaml", "/data/kruxos/packs",
        "/data/kruxos/backups", "/data/kruxos/ssh", "/data/kruxos/license.jwt", "/data/kruxos/proxy",
    ];

    // Path arguments that a capability writes, moves away or deletes.
    private static readonly FrozenDictionary<string, string[]> WrittenPaths = new Dictionary<string, string[]>
    {
        ["filesystem.write"] = ["path"],
        ["filesystem.edit"] = ["path"],
        ["filesystem.append"] = ["path"],
        ["filesystem.delete"] = ["path"],
        ["filesystem.restore"] = ["path", "destination"],
        ["filesystem.move"] = ["source", "destination"],
        ["filesystem.copy"] = ["destination"],
        ["network.download"] = ["path"],
        ["git.clone"] = ["path"],
        ["state.backup.export"] = ["path"],
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>True for the pseudo-capabilities that are blocked whatever their arguments.</summary>
    public static bool BlocksUnconditionally(string capability) => Unconditional.ContainsKey(capability);

    /// <summary>True when a pattern names a protected pseudo-capability (so it is not reported as unknown).</summary>
    internal static bool IsProtectedName(CapabilityPattern pattern) =>
        Unconditional.Keys.Any(pattern.Matches) || pattern.Matches("state.read_private") || pattern.Matches("state.write_private");

    /// <summary>
    /// Checks a call against every protection. Returns the protection that blocks it, or null.
    /// </summary>
    public static Protection? Check(Principal principal, CapabilityDefinition capability, JsonElement arguments, out string reason)
    {
        var cache = new ArgumentCache();
        return Check(principal, capability, arguments, ref cache, out reason);
    }

    internal static Protection? Check(Principal principal, CapabilityDefinition capability, JsonElement arguments, ref ArgumentCache cache, out string reason)
    {
        var name = capability.Name.Value;
        reason = string.Empty;
        if (Unconditional.TryGetValue(name, out var unconditional))
        {
            reason = $"'{name}' is blocked by a system protection and cannot be allowed by any policy";
            return unconditional;
        }
        var isObject = arguments.ValueKind == JsonValueKind.Object;
        if (name is "state.read_private" or "state.write_private")
        {
            var owner = isObject ? FirstString(arguments, "agent", "agent_name", "owner") : null;
            if (principal.Kind != PrincipalKind.Agent || owner != principal.Name)
            {
                reason = "an agent's private state belongs to that agent alone";
                return OtherAgentsPrivateState;
            }
        }
        if (!isObject) return null;

        // Declared path inputs must not climb above '/'.
        foreach (var input in capability.Inputs)
        {
            if (input.Type == InputType.FilesystemPath && cache.CanonicalPath(arguments, input.Name, out _) == ConditionResult.Indeterminate)
            {
                reason = $"argument '{input.Name}' climbs above '/'";
                return PathEscape;
            }
        }

        if (WrittenPaths.TryGetValue(name, out var written) || (!capability.Tags.IsDefault && (capability.Tags.Contains("write") || capability.Tags.Contains("destructive"))))
        {
            if (CheckWrittenPaths(capability, arguments, written, ref cache, out reason) is { } p) return p;
        }

        if (name == "process.run" && DangerousCommand(arguments) is { } why)
        {
            reason = why;
            return DangerousCommands;
        }
        return null;
    }

    private static Protection? CheckWrittenPaths(
        CapabilityDefinition capability, JsonElement arguments, string[]? written, ref ArgumentCache cache, out string reason)
    {
        reason = string.Empty;
        var names = written ?? [.. capability.Inputs.Where(i => i.Type == InputType.FilesystemPath).Select(i => i.Name)];
        foreach (var argument in names)
        {
            var r = cache.CanonicalPath(arguments, argument, out var path);
            if (r == ConditionResult.NoMatch) continue;
            if (r == ConditionResult.Indeterminate)
            {
                reason = $"argument '{argument}' climbs above '/'";
                return PathEscape;
            }
            if (SystemPathContaining(path) is { } root)
            {
                reason = $"'{path}' is under the system path '{root}'";
                return SystemPathWrites;
            }
        }
        return null;
    }

    // First segments of the system paths: most paths ("/workspace/…") are ruled out with one set lookup.
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> SystemFirstSegments =
        SystemPaths.Select(p => p.Split('/')[1]).ToFrozenSet(StringComparer.Ordinal).GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>The protected system path that contains <paramref name="canonicalPath"/>, if any.</summary>
    public static string? SystemPathContaining(string canonicalPath)
    {
        var rest = canonicalPath.AsSpan(1);
        var slash = rest.IndexOf('/');
        if (!SystemFirstSegments.Contains(slash < 0 ? rest : rest[..slash])) return null;
        foreach (var root in SystemPaths)
            if (PolicyPaths.IsUnder(canonicalPath, root)) return root;
        return null;
    }

    private static string? FirstString(JsonElement arguments, params ReadOnlySpan<string> names)
    {
        foreach (var n in names)
            if (arguments.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.String) return v.GetString();
        return null;
    }

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
            foreach (var root in SystemPaths)
                if (root.StartsWith(path, StringComparison.Ordinal)) return token;
        }
        if (SystemPathContaining(path) is not null) return token;
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
