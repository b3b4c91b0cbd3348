using System.Collections.Frozen;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Policy;

/// <summary>What a guard may look at: the caller, the definition, the validated arguments (an object) and the policy in force.</summary>
public readonly record struct GuardInput(Principal Principal, CapabilityDefinition Capability, JsonElement Arguments, PolicySet Policies);

/// <summary>
/// A check of one capability's arguments that blocks a call whatever the policy files say, named by the capability's
/// definition (<c>guards:</c>). Pure: no clock, no I/O. Guards are reviewed Core code chosen by name, never loaded from a
/// module (ADR 0032).
/// </summary>
public interface ICallGuard
{
    /// <summary>The protection a block is reported under.</summary>
    Protection Protection { get; }

    /// <summary>Why the call is blocked, or null when it may proceed.</summary>
    string? Check(in GuardInput input);
}

/// <summary>The guards a definition can name.</summary>
public static class CallGuards
{
    /// <summary><c>dangerous_commands</c>: mass-destruction commands in a process.run-shaped call.</summary>
    public static readonly ICallGuard DangerousCommands = new DangerousCommandsGuard();

    /// <summary><c>git_remote</c>: a <c>url</c> argument outside the caller's <c>git.remotes</c> allowlist.</summary>
    public static readonly ICallGuard GitRemote = new GitRemoteGuard();

    /// <summary>Every guard by the name definitions use.</summary>
    public static FrozenDictionary<string, ICallGuard> ByName { get; } = new Dictionary<string, ICallGuard>
    {
        ["dangerous_commands"] = DangerousCommands,
        ["git_remote"] = GitRemote,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    private sealed class DangerousCommandsGuard : ICallGuard
    {
        public Protection Protection => SystemProtections.DangerousCommands;

        public string? Check(in GuardInput input) => CommandCheck.DangerousCommand(input.Arguments);
    }

    private sealed class GitRemoteGuard : ICallGuard
    {
        public Protection Protection => SystemProtections.GitRemoteNotAllowed;

        // The remote a call names is refused before anything runs (pull and push name a configured remote; the worker checks
        // its URL against the same lists).
        public string? Check(in GuardInput input) =>
            input.Arguments.TryGetProperty("url", out var url) && url.ValueKind == JsonValueKind.String
                ? PolicyEngine.GitRemoteRefusal(url.GetString()!, input.Policies.GitRemotesFor(input.Principal))
                : null;
    }
}
