using System.Text.Json;

namespace KruxOS.Core.Control;

/// <summary>Where the control socket is, and what said so (for error messages).</summary>
/// <param name="Path">The socket path.</param>
/// <param name="Source">How the path was found, e.g. <c>Gateway:ControlSocket in /etc/kruxos/gateway.json</c>.</param>
public sealed record ControlSocketLocation(string Path, string Source)
{
    /// <summary>The gateway's operator configuration file (<c>--config</c> of the gateway).</summary>
    public const string ConfigFileVariable = "KRUXOS_CONFIG_FILE";

    /// <summary>
    /// Finds the control socket the way the gateway places it, given the same environment and operator
    /// configuration file, highest first:
    /// <list type="number">
    /// <item><c>KRUXOS_CONTROL_SOCKET</c> (or <c>KRUXOS_Gateway__ControlSocket</c>);</item>
    /// <item><c>Gateway:ControlSocket</c> in the file named by <c>KRUXOS_CONFIG_FILE</c> — the installed
    /// <c>kruxos</c> launcher points it at the installed <c>/etc/kruxos/gateway.json</c>, so on the appliance the
    /// CLI finds <c>/run/kruxos/control.sock</c> with no environment at all;</item>
    /// <item><c>{data dir}/run/control.sock</c>, the data directory being <c>KRUXOS_DATA_DIR</c> (or
    /// <c>KRUXOS_KruxOS__DataDir</c>), else <c>KruxOS:DataDir</c> in that file, else <c>~/.kruxos</c>.</item>
    /// </list>
    /// An unreadable or malformed configuration file is skipped (a non-root user cannot read the appliance's 0600
    /// file, and could not use the root-only socket anyway).
    /// </summary>
    /// <param name="environment">Reads an environment variable (null or empty: unset).</param>
    /// <param name="readFile">Reads a file's text; null when it does not exist or cannot be read.</param>
    /// <param name="home">The user's home directory.</param>
    public static ControlSocketLocation Resolve(Func<string, string?> environment, Func<string, string?> readFile, string home)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(readFile);
        string? Env(string name) => environment(name) is { Length: > 0 } v ? v : null;

        foreach (var name in new[] { "KRUXOS_CONTROL_SOCKET", "KRUXOS_Gateway__ControlSocket" })
            if (Env(name) is { } explicitPath) return new(explicitPath, name);

        var configFile = Env(ConfigFileVariable);
        var config = configFile is null ? null : ReadConfig(readFile(configFile));
        if (Setting(config, "Gateway", "ControlSocket") is { } configured)
            return new(configured, $"Gateway:ControlSocket in {configFile}");

        foreach (var name in new[] { "KRUXOS_DATA_DIR", "KRUXOS_KruxOS__DataDir" })
            if (Env(name) is { } dataDir) return new(System.IO.Path.Combine(dataDir, "run", "control.sock"), name);
        if (Setting(config, "KruxOS", "DataDir") is { } fileDataDir)
            return new(System.IO.Path.Combine(fileDataDir, "run", "control.sock"), $"KruxOS:DataDir in {configFile}");
        return new(System.IO.Path.Combine(home, ".kruxos", "run", "control.sock"), "the default data directory ~/.kruxos");
    }

    /// <summary>Parses the gateway's JSON configuration file as the gateway does (comments, trailing commas); null when unusable.</summary>
    internal static JsonElement? ReadConfig(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        try
        {
            // The gateway reads the same file with Microsoft.Extensions.Configuration, which allows comments and trailing commas.
            using var doc = JsonDocument.Parse(text, new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return doc.RootElement.ValueKind == JsonValueKind.Object ? doc.RootElement.Clone() : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>A non-empty string setting <c>section:key</c>, matched case-insensitively as the gateway does.</summary>
    internal static string? Setting(JsonElement? config, string section, string key)
    {
        if (config is not { } root || Property(root, section) is not { ValueKind: JsonValueKind.Object } s) return null;
        return Property(s, key) is { ValueKind: JsonValueKind.String } v && v.GetString() is { Length: > 0 } text ? text : null;
    }

    private static JsonElement? Property(JsonElement o, string name)
    {
        foreach (var p in o.EnumerateObject())
            if (string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase)) return p.Value;
        return null;
    }
}
