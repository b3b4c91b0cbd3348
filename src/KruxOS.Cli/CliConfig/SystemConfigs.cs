using System.Text.Json.Nodes;

namespace KruxOS.Cli.CliConfig;

/// <summary>
/// The requirements layer (<c>cli-config generate --system</c>; ADR 0027): machine-wide files that users cannot
/// override, so the native shell stays off whatever a user's own settings say.
/// <list type="bullet">
/// <item>Claude Code: a managed-settings drop-in, <c>/etc/claude-code/managed-settings.d/50-kruxos.json</c>, with
/// <c>permissions.deny: ["Bash"]</c>. Managed settings outrank user, project, local and command-line settings, and a
/// deny rule wins over any allow; drop-ins merge over the organisation's own <c>managed-settings.json</c>, which is
/// left alone. Claude Code then does not even offer the shell to the model.</item>
/// <item>Codex: <c>/etc/codex/requirements.toml</c> pinning <c>[features] shell_tool = false</c>,
/// <c>unified_exec = false</c> and <c>hooks = true</c> (cli-hook cannot be switched off); other requirements in the
/// file are kept.</item>
/// </list>
/// </summary>
public static class SystemConfigs
{
    /// <summary>Claude Code's managed settings directory on Linux.</summary>
    public const string ClaudeManagedDirectory = "etc/claude-code/managed-settings.d";

    /// <summary>Our drop-in's name (drop-ins are applied in name order, after <c>managed-settings.json</c>).</summary>
    public const string ClaudeDropIn = "50-kruxos.json";

    /// <summary>Codex's system requirements file.</summary>
    public const string CodexRequirements = "etc/codex/requirements.toml";

    /// <summary>The Claude Code drop-in (the whole file is ours).</summary>
    public static JsonObject ClaudeManaged() => new()
    {
        ["permissions"] = new JsonObject { ["deny"] = new JsonArray("Bash") },
    };

    /// <summary>The Codex requirements we own: keys inside <c>[features]</c>.</summary>
    public const string CodexFeatures = """
        [features]
        shell_tool = false
        unified_exec = false
        hooks = true

        """;

    public static IReadOnlyList<SeedFile> Claude() =>
    [
        new(Path.Combine(ClaudeManagedDirectory, ClaudeDropIn), JsonMerge.Format(ClaudeManaged()), (text, path) =>
            // ours alone: replaced whole when it says anything else (an unreadable file included)
            string.IsNullOrWhiteSpace(text) || !SameJson(text, ClaudeManaged()) ? JsonMerge.Format(ClaudeManaged()) : null),
    ];

    public static IReadOnlyList<SeedFile> Codex() =>
    [
        new(CodexRequirements, CodexFeatures, (text, path) => TomlMerge.Merge(text, CodexFeatures, [], path)),
    ];

    private static bool SameJson(string text, JsonNode expected)
    {
        try { return JsonNode.DeepEquals(JsonNode.Parse(text), expected); }
        catch (System.Text.Json.JsonException) { return false; }
    }
}
