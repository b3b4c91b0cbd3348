using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Text.Json;
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
public static class SystemProtections
{
    public static readonly Protection RawSecretAccess = new("deny_raw_secret_access", "secrets.read_raw and secrets.export are never allowed");
    public static readonly Protection AuditTampering = new("deny_audit_tampering", "audit.write, audit.delete and audit.truncate are never allowed");
    public static readonly Protection SystemPolicyChange = new("deny_system_policy_change", "policy.modify_system is never allowed");
    public static readonly Protection OtherAgentsPrivateState = new("deny_other_agents_private_state", "state.read_private / state.write_private of another agent");
    public static readonly Protection SystemPathWrites = new("deny_system_path_writes", "writing, moving or deleting files under system paths (/etc, /usr, /boot, gateway data, …)");
    public static readonly Protection DangerousCommands = new("deny_dangerous_commands", "process.run of mass-destruction commands (rm -r of system paths, find -delete above them, mkfs, dd to devices, fork bombs, curl | sh, writes to /etc, …), also behind wrappers such as sudo, env, timeout or xargs and in scripts a shell reads from stdin");
    public static readonly Protection GitRemoteNotAllowed = new("git_remote_not_allowed", "git.clone from a remote that the git.remotes lists of the policy do not allow");
    public static readonly Protection PathEscape = new(PolicyCondition.PathEscape, "paths that climb above '/' are never accepted");

    /// <summary>Every protection, for reports and <c>agent.policy</c>.</summary>
    public static ImmutableArray<Protection> All { get; } =
        [RawSecretAccess, AuditTampering, SystemPolicyChange, OtherAgentsPrivateState, SystemPathWrites, DangerousCommands, GitRemoteNotAllowed, PathEscape];

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

    /// <summary>True for the pseudo-capabilities that are blocked whatever their arguments.</summary>
    public static bool BlocksUnconditionally(string capability) => Unconditional.ContainsKey(capability);

    /// <summary>True when a pattern names a protected pseudo-capability (so it is not reported as unknown).</summary>
    internal static bool IsProtectedName(CapabilityPattern pattern) =>
        Unconditional.Keys.Any(pattern.Matches) || pattern.Matches("state.read_private") || pattern.Matches("state.write_private");

    /// <summary>
    /// Checks a call against every protection, then the definition's guards (which read <paramref name="policies"/>).
    /// Returns the protection that blocks it, or null.
    /// </summary>
    public static Protection? Check(Principal principal, CapabilityDefinition capability, JsonElement arguments, PolicySet policies, out string reason)
    {
        var cache = new ArgumentCache();
        return Check(principal, capability, arguments, policies, ref cache, out reason);
    }

    internal static Protection? Check(Principal principal, CapabilityDefinition capability, JsonElement arguments, PolicySet policies,
        ref ArgumentCache cache, out string reason)
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

        if (CheckWrittenPaths(capability, arguments, ref cache, out reason) is { } p) return p;

        // The definition's guards, in declaration order (dangerous commands, git remotes, ...).
        foreach (var guard in capability.Guards)
        {
            if (guard.Check(new GuardInput(principal, capability, arguments, policies)) is { } why)
            {
                reason = why;
                return guard.Protection;
            }
        }
        return null;
    }

    private static Protection? CheckWrittenPaths(CapabilityDefinition capability, JsonElement arguments, ref ArgumentCache cache, out string reason)
    {
        reason = string.Empty;
        foreach (var argument in capability.WrittenPathInputs())
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
    /// The longest command line (command and arguments joined, or a script a shell reads from stdin) the
    /// <c>process.run</c> check reads, in characters. A longer one is blocked as too long to check, so the check's
    /// cost, and with it the decision, stays bounded. Large data belongs in files, not on the command line.
    /// </summary>
    public const int MaxCheckedCommandLength = CommandCheck.MaxLength;
}
