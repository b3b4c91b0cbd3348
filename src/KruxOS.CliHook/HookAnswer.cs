using System.Text.Json.Nodes;

namespace KruxOS.CliHook;

/// <summary>The hook's verdict for one native tool call.</summary>
/// <param name="Allowed">True when every capability call was allowed.</param>
/// <param name="Reason">Why (for a denial: what happened and what to do; the model reads it).</param>
/// <param name="Code">The structured code of a denial.</param>
public sealed record HookVerdict(bool Allowed, string Reason, string? Code = null)
{
    public static HookVerdict Allow(string reason) => new(true, reason);

    public static HookVerdict Deny(HookDenial denial) => new(false, $"KruxOS denied this call: {denial.Reason} [code: {denial.Code}]", denial.Code);
}

/// <summary>
/// Renders a verdict in the client's PreToolUse output format (docs/cli-hook.md, "Client contracts"): both
/// clients read <c>hookSpecificOutput.permissionDecision</c> on stdout with exit 0. Claude Code gets
/// <c>allow</c> or <c>deny</c>; Codex gets <c>deny</c>, and for an allow nothing at all, because Codex reports an
/// explicit <c>allow</c> without <c>updatedInput</c> as an unsupported hook result.
/// </summary>
public static class HookAnswer
{
    /// <summary>The stdout text (possibly empty) for <paramref name="verdict"/>.</summary>
    public static string Render(HookClient client, HookVerdict verdict)
    {
        if (verdict.Allowed && client == HookClient.Codex) return "";
        var output = new JsonObject
        {
            ["hookSpecificOutput"] = new JsonObject
            {
                ["hookEventName"] = "PreToolUse",
                ["permissionDecision"] = verdict.Allowed ? "allow" : "deny",
                ["permissionDecisionReason"] = verdict.Reason,
            },
        };
        return output.ToJsonString();
    }
}
