using System.Text.Json;

namespace KruxOS.CliHook;

/// <summary>The host CLIs cli-hook answers for.</summary>
public enum HookClient
{
    ClaudeCode,
    Codex,
}

/// <summary>Wire names of <see cref="HookClient"/> (as in <c>--cli</c> and the gateway's attribution).</summary>
public static class HookClients
{
    /// <summary>The names accepted by <c>--cli</c>.</summary>
    public static readonly string[] Names = ["claude-code", "codex"];

    public static string Wire(this HookClient client) => client == HookClient.Codex ? "codex" : "claude-code";

    public static bool TryParse(string? value, out HookClient client)
    {
        switch (value)
        {
            case "claude-code": client = HookClient.ClaudeCode; return true;
            case "codex": client = HookClient.Codex; return true;
            default: client = default; return false;
        }
    }
}

/// <summary>Why the hook denies, as a structured code and a sentence the model can act on.</summary>
/// <param name="Code">A stable code (<c>malformed_event</c>, <c>PolicyDenied</c>, …), see docs/cli-hook.md.</param>
/// <param name="Reason">What happened and what to do.</param>
/// <param name="ApprovalId">For a pending approval, its id.</param>
public sealed record HookDenial(string Code, string Reason, string? ApprovalId = null);

/// <summary>One PreToolUse event as both clients send it on stdin.</summary>
/// <param name="Client">The client (from <c>--cli</c>, else recognised from the event's shape).</param>
/// <param name="ToolName">The native tool (<c>Bash</c>, <c>Read</c>, <c>apply_patch</c>, …).</param>
/// <param name="ToolInput">The tool's input object.</param>
/// <param name="Cwd">The client's working directory (absolute); host paths under it become workspace-relative.</param>
/// <param name="SessionId">The client's session id, if given.</param>
public sealed record HookEvent(HookClient Client, string ToolName, JsonElement ToolInput, string Cwd, string? SessionId);

/// <summary>Reads the client's hook event; every shape problem is a denial (never an exception).</summary>
public static class HookEventParser
{
    /// <summary>Largest event read from stdin (a Write of a large file is the biggest realistic event).</summary>
    public const int MaxEventBytes = 16 * 1024 * 1024;

    /// <summary>Which client sent <paramref name="root"/>, judged by shape: Codex adds <c>turn_id</c> and <c>model</c>, and only Codex has <c>apply_patch</c>.</summary>
    public static HookClient Recognise(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) return HookClient.ClaudeCode;
        if (root.TryGetProperty("turn_id", out _) || root.TryGetProperty("model", out _)) return HookClient.Codex;
        if (root.TryGetProperty("tool_name", out var t) && t.ValueKind == JsonValueKind.String && t.GetString() == "apply_patch") return HookClient.Codex;
        return HookClient.ClaudeCode;
    }

    /// <summary>Parses the event text.</summary>
    /// <param name="json">The bytes read from stdin.</param>
    /// <param name="forced">The client named by <c>--cli</c>, if any.</param>
    /// <param name="hookEvent">The event, when it could be read.</param>
    /// <param name="client">The client to answer (known even when parsing fails, so the denial can be rendered).</param>
    /// <param name="denial">Why the event cannot be used, when it cannot.</param>
    public static bool TryParse(ReadOnlySpan<byte> json, HookClient? forced, out HookEvent? hookEvent, out HookClient client, out HookDenial? denial)
    {
        hookEvent = null;
        client = forced ?? HookClient.ClaudeCode;
        JsonElement root;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 128 });
            root = JsonElement.ParseValue(ref reader);
        }
        catch (JsonException)
        {
            denial = Malformed("the hook event on stdin is not valid JSON");
            return false;
        }
        client = forced ?? Recognise(root);
        if (root.ValueKind != JsonValueKind.Object)
        {
            denial = Malformed("the hook event on stdin is not a JSON object");
            return false;
        }
        var eventName = Text(root, "hook_event_name");
        if (eventName is null)
        {
            denial = Malformed("the hook event has no hook_event_name");
            return false;
        }
        if (eventName != "PreToolUse")
        {
            denial = new HookDenial("unsupported_event", $"cli-hook answers PreToolUse events only, not '{Clip(eventName)}'; wire it as a PreToolUse hook.");
            return false;
        }
        var tool = Text(root, "tool_name");
        if (string.IsNullOrEmpty(tool))
        {
            denial = Malformed("the hook event has no tool_name");
            return false;
        }
        if (!root.TryGetProperty("tool_input", out var input) || input.ValueKind != JsonValueKind.Object)
        {
            denial = Malformed($"the hook event for '{Clip(tool)}' has no tool_input object");
            return false;
        }
        var cwd = Text(root, "cwd");
        if (string.IsNullOrEmpty(cwd) || !cwd.StartsWith('/'))
        {
            denial = Malformed("the hook event has no absolute cwd, so its paths cannot be placed in the workspace");
            return false;
        }
        hookEvent = new HookEvent(client, tool, input.Clone(), cwd, Text(root, "session_id"));
        denial = null;
        return true;
    }

    /// <summary>A denial for an event that cannot be read.</summary>
    public static HookDenial Malformed(string why) => new("malformed_event", why + ". The call is denied because cli-hook cannot tell what it would do.");

    internal static string Clip(string s) => s.Length <= 80 ? s : s[..80] + "…";

    private static string? Text(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
