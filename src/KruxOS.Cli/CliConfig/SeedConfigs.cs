using System.Text.Json.Nodes;
using KruxOS.Core.Identity;

namespace KruxOS.Cli.CliConfig;

/// <summary>The inputs of <c>kruxos cli-config generate</c>. None of them may carry a credential.</summary>
public sealed record SeedOptions
{
    /// <summary>The appliance's gateway for a local client: TLS (plain text is refused on the appliance's 0.0.0.0 bind).</summary>
    public const string DefaultGateway = "wss://127.0.0.1:7700/";

    /// <summary>The User API cli-hook asks when the hook command names none.</summary>
    public const string DefaultUserApi = "http://127.0.0.1:7703";

    /// <summary>The auth socket the bridge uses when its server entry names none.</summary>
    public const string DefaultAuthSocket = "/run/kruxos/auth.sock";
    public const string DefaultBridge = "/opt/kruxos/bin/mcp-bridge";
    public const string DefaultHook = "/opt/kruxos/bin/cli-hook";

    /// <summary>The MCP server's name in both clients' configs.</summary>
    public const string ServerName = "kruxos-gateway";

    /// <summary>The user-token label the Claude Code bridge mints for (spec §14.2).</summary>
    public const string ClaudeLabel = "claude-code";

    /// <summary>The user-token label the Codex bridge mints for (spec §14.2).</summary>
    public const string CodexLabel = "primary";

    public string Gateway { get; init; } = DefaultGateway;
    public string BridgePath { get; init; } = DefaultBridge;
    public string HookPath { get; init; } = DefaultHook;

    /// <summary>Written as <c>KRUXOS_AUTH_SOCKET</c> in the server's env when the gateway's socket is not the default.</summary>
    public string? AuthSocket { get; init; }

    /// <summary>Passed to cli-hook as <c>--gateway</c> when the User API is not the default <c>http://127.0.0.1:7703</c>.</summary>
    public string? UserApi { get; init; }

    /// <summary>Checks every value; the error names the option.</summary>
    public string? Validate()
    {
        foreach (var (name, value) in new[] { ("--gateway", Gateway), ("--bridge-path", BridgePath), ("--hook-path", HookPath), ("--auth-socket", AuthSocket ?? ""), ("--user-api", UserApi ?? "") })
        {
            if (TokenHashing.LooksLikeCredential(value)) return $"{name} carries something that looks like a token; seed configs never hold credentials";
            if (value.Any(char.IsControl)) return $"{name} contains control characters";
        }
        if (!Uri.TryCreate(Gateway, UriKind.Absolute, out var uri) || uri.Scheme is not ("ws" or "wss") || uri.Query.Length > 0 || uri.UserInfo.Length > 0)
            return "--gateway must be a ws:// or wss:// URL without query or user info (e.g. ws://127.0.0.1:7700/)";
        foreach (var (name, value) in new[] { ("--bridge-path", BridgePath), ("--hook-path", HookPath) })
            if (!Path.IsPathFullyQualified(value) || value.Contains(' ', StringComparison.Ordinal)) return $"{name} must be an absolute path without spaces";
        if (AuthSocket is not null && (!Path.IsPathFullyQualified(AuthSocket) || AuthSocket.Contains(' ', StringComparison.Ordinal))) return "--auth-socket must be an absolute path without spaces";
        if (UserApi is not null && (!Uri.TryCreate(UserApi, UriKind.Absolute, out var api) || api.Scheme is not ("http" or "https") || api.Query.Length > 0 || api.UserInfo.Length > 0
                                    || api.AbsolutePath != "/" || UserApi.Contains(' ', StringComparison.Ordinal)))
            return "--user-api must be an http:// or https:// URL with no path, query or user info (e.g. http://127.0.0.1:7703)";
        return null;
    }
}

/// <summary>One file cli-config manages: where it lives, the fragment printed, and how it is merged.</summary>
public sealed record SeedFile(string RelativePath, string Fragment, Func<string, string, string?> Merge);

/// <summary>
/// The deterministic seed configs for Claude Code and Codex (docs/cli-config.md, ADR 0011). Each file has a
/// fragment (what is printed, what is owned) and a merge rule; merges return null when nothing changes.
/// </summary>
public static class SeedConfigs
{
    /// <summary>
    /// Claude Code's native tools that cli-hook governs (the PreToolUse matcher). Anchored, so it is read as a
    /// whole-name regex and never matches an MCP tool (<c>mcp__…</c>), which the gateway governs itself.
    /// </summary>
    public const string ClaudeMatcher = "^(Bash|Read|Write|Edit|MultiEdit|NotebookEdit|Glob|Grep|WebFetch)$";

    /// <summary>Codex's native tools that cli-hook governs (<c>Edit</c>/<c>Write</c> are Codex's aliases of apply_patch); anchored likewise.</summary>
    public const string CodexMatcher = "^(Bash|apply_patch|Edit|Write)$";

    /// <summary>Seconds a client waits for cli-hook before giving up (cli-hook itself denies on its own timeouts).</summary>
    public const int HookTimeoutSeconds = 30;

    public static IReadOnlyList<SeedFile> Claude(SeedOptions o) =>
    [
        new(".claude.json", JsonMerge.Format(ClaudeServers(o)), (text, path) => MergeClaudeServers(text, path, o)),
        new(Path.Combine(".claude", "settings.json"), JsonMerge.Format(ClaudeSettings(o)), (text, path) => MergeHooks(text, path, ClaudeSettings(o), "claude-code", denyBash: true)),
    ];

    public static IReadOnlyList<SeedFile> Codex(SeedOptions o) =>
    [
        new(Path.Combine(".codex", "config.toml"), CodexToml(o), (text, path) => TomlMerge.Merge(text, CodexToml(o), [$"mcp_servers.{SeedOptions.ServerName}"], path)),
        new(Path.Combine(".codex", "hooks.json"), JsonMerge.Format(CodexHooks(o)), (text, path) => MergeHooks(text, path, CodexHooks(o), "codex", denyBash: false)),
    ];

    /// <summary>The bridge's arguments: attribution, label and gateway — never a token.</summary>
    public static string[] BridgeArgs(SeedOptions o, string cli, string label) => [$"--cli={cli}", "--label", label, "--gateway", o.Gateway];

    private static JsonObject ServerEnv(SeedOptions o) =>
        o.AuthSocket is { } socket ? new JsonObject { ["KRUXOS_AUTH_SOCKET"] = socket } : new JsonObject();

    /// <summary><c>~/.claude.json</c>: the user-scope MCP server (where Claude Code reads it; not settings.json).</summary>
    public static JsonObject ClaudeServers(SeedOptions o) => new()
    {
        ["mcpServers"] = new JsonObject
        {
            [SeedOptions.ServerName] = new JsonObject
            {
                ["type"] = "stdio",
                ["command"] = o.BridgePath,
                ["args"] = new JsonArray([.. BridgeArgs(o, "claude-code", SeedOptions.ClaudeLabel).Select(a => (JsonNode)a)]),
                ["env"] = ServerEnv(o),
            },
        },
    };

    /// <summary>
    /// <c>~/.claude/settings.json</c>: cli-hook on the native tools and the native shell denied. It also carries
    /// the same server entry, so the integration page's "settings.json references the bridge" holds; Claude Code
    /// itself reads servers from <c>~/.claude.json</c> (ADR 0011).
    /// </summary>
    public static JsonObject ClaudeSettings(SeedOptions o) => new()
    {
        ["mcpServers"] = ClaudeServers(o)["mcpServers"]!.DeepClone(),
        ["permissions"] = new JsonObject { ["deny"] = new JsonArray("Bash") },
        ["hooks"] = HookBlock(o, ClaudeMatcher, "claude-code"),
    };

    /// <summary><c>~/.codex/hooks.json</c>: cli-hook as Codex's PreToolUse hook.</summary>
    public static JsonObject CodexHooks(SeedOptions o) => new() { ["hooks"] = HookBlock(o, CodexMatcher, "codex") };

    private static JsonObject HookBlock(SeedOptions o, string matcher, string cli) => new()
    {
        ["PreToolUse"] = new JsonArray(new JsonObject
        {
            ["matcher"] = matcher,
            ["hooks"] = new JsonArray(new JsonObject
            {
                ["type"] = "command",
                ["command"] = HookCommand(o, cli),
                ["timeout"] = HookTimeoutSeconds,
            }),
        }),
    };

    /// <summary>
    /// The hook's command line: cli-hook mints its own credential over the auth socket for the client's seed label (no
    /// token in the client's environment), so a non-default socket is named here as it is in the bridge's env. It goes
    /// before <c>--cli</c>, which ends the command (how an earlier cli-hook group of the same client is recognised).
    /// </summary>
    private static string HookCommand(SeedOptions o, string cli) =>
        o.HookPath
        + (o.AuthSocket is { } socket ? $" --auth-socket {ShellQuote(socket)}" : "")
        + (o.UserApi is { } api ? $" --gateway {ShellQuote(api.TrimEnd('/'))}" : "")
        + $" --cli {cli}";

    /// <summary>A POSIX shell word: plain when it holds only safe characters, single-quoted otherwise.</summary>
    private static string ShellQuote(string s) =>
        s.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '.' or '_' or '-' or '+' or ':' or '@' or '%' or '=' or ',')
            ? s
            : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    /// <summary><c>~/.codex/config.toml</c> per spec §14.2, without a token line (the bridge mints over the auth socket).</summary>
    public static string CodexToml(SeedOptions o)
    {
        var args = string.Join(", ", BridgeArgs(o, "codex", SeedOptions.CodexLabel).Select(Quote));
        var env = o.AuthSocket is { } socket ? $"\n[mcp_servers.{SeedOptions.ServerName}.env]\nKRUXOS_AUTH_SOCKET = {Quote(socket)}\n" : "";
        return $$"""
            approval_policy = "never"
            sandbox_mode = "danger-full-access"

            [shell_environment_policy]
            inherit = "core"
            exclude = ["*KEY", "*SECRET", "*TOKEN", "ANTHROPIC_*", "OPENAI_API_KEY"]

            [features]
            hooks = true
            shell_tool = false
            unified_exec = false

            [mcp_servers.{{SeedOptions.ServerName}}]
            command = {{Quote(o.BridgePath)}}
            args = [{{args}}]
            tool_timeout_sec = 86400
            startup_timeout_sec = 30
            required = true

            """ + env;
    }

    /// <summary>A TOML basic string.</summary>
    private static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private static string? MergeClaudeServers(string text, string path, SeedOptions o)
    {
        var doc = JsonMerge.ParseObject(text, path);
        var before = doc.DeepClone();
        var servers = JsonMerge.ObjectAt(doc, "mcpServers", path);
        servers[SeedOptions.ServerName] = ClaudeServers(o)["mcpServers"]![SeedOptions.ServerName]!.DeepClone();
        return JsonMerge.SameMeaning(before, doc) ? null : JsonMerge.Format(doc);
    }

    /// <summary>
    /// Sets our server entry when the fragment has one, adds our PreToolUse group, replacing any earlier group that runs cli-hook for the same client (so a
    /// changed path or matcher is updated, not duplicated); with <paramref name="denyBash"/>, also adds
    /// <c>Bash</c> to <c>permissions.deny</c>. Every other hook, permission and setting is kept.
    /// </summary>
    private static string? MergeHooks(string text, string path, JsonObject fragment, string cli, bool denyBash)
    {
        var doc = JsonMerge.ParseObject(text, path);
        var before = doc.DeepClone();
        if (fragment["mcpServers"] is JsonObject servers)
            JsonMerge.ObjectAt(doc, "mcpServers", path)[SeedOptions.ServerName] = servers[SeedOptions.ServerName]!.DeepClone();
        if (denyBash)
        {
            var deny = JsonMerge.ArrayAt(JsonMerge.ObjectAt(doc, "permissions", path), "deny", path);
            if (!deny.Any(d => d is JsonValue v && v.TryGetValue<string>(out var s) && s == "Bash")) deny.Add("Bash");
        }
        var pre = JsonMerge.ArrayAt(JsonMerge.ObjectAt(doc, "hooks", path), "PreToolUse", path);
        var ours = fragment["hooks"]!["PreToolUse"]![0]!;
        var existing = pre.Where(g => IsOurGroup(g, cli)).ToList();
        // Exactly our group already there (wherever the user moved it): leave the array alone.
        if (existing.Count != 1 || !JsonNode.DeepEquals(existing[0], ours))
        {
            for (var i = pre.Count - 1; i >= 0; i--)
                if (IsOurGroup(pre[i], cli)) pre.RemoveAt(i);
            pre.Add(ours.DeepClone());
        }
        return JsonMerge.SameMeaning(before, doc) ? null : JsonMerge.Format(doc);
    }

    private static bool IsOurGroup(JsonNode? group, string cli) =>
        group?["hooks"] is JsonArray hooks && hooks.Any(h => h?["command"] is JsonValue v && v.TryGetValue<string>(out var c)
            && c.Contains("cli-hook", StringComparison.Ordinal)
            && (c.EndsWith("--cli " + cli, StringComparison.Ordinal) || c.Contains("--cli " + cli + " ", StringComparison.Ordinal)));
}
