using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.Cli.CliConfig;

/// <summary>
/// Merges our JSON fragment into a user's file: objects merge key by key, so the user's other settings
/// stay; arrays we own are handled by the caller's rules (see <see cref="SeedConfigs"/>).
/// </summary>
public static class JsonMerge
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Parses a user's file; empty means an empty object. Anything but an object is refused.</summary>
    public static JsonObject ParseObject(string text, string path)
    {
        if (string.IsNullOrWhiteSpace(text)) return new JsonObject();
        try
        {
            return JsonNode.Parse(text, documentOptions: new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                ?? throw new ConfigMergeException($"{path} does not hold a JSON object, so it is left alone");
        }
        catch (JsonException e)
        {
            throw new ConfigMergeException($"{path} is not valid JSON, so it is left alone: {e.Message}");
        }
    }

    /// <summary>The object at <paramref name="key"/>, created when absent; refuses when something else is there.</summary>
    public static JsonObject ObjectAt(JsonObject parent, string key, string path)
    {
        switch (parent[key])
        {
            case null:
                var created = new JsonObject();
                parent[key] = created;
                return created;
            case JsonObject o:
                return o;
            default:
                throw new ConfigMergeException($"{path}: '{key}' is not an object, so cli-config will not change it");
        }
    }

    /// <summary>The array at <paramref name="key"/>, created when absent; refuses when something else is there.</summary>
    public static JsonArray ArrayAt(JsonObject parent, string key, string path)
    {
        switch (parent[key])
        {
            case null:
                var created = new JsonArray();
                parent[key] = created;
                return created;
            case JsonArray a:
                return a;
            default:
                throw new ConfigMergeException($"{path}: '{key}' is not an array, so cli-config will not change it");
        }
    }

    /// <summary>Indented text with a final newline.</summary>
    public static string Format(JsonNode node) => node.ToJsonString(Indented) + "\n";

    /// <summary>True when two documents mean the same (key order ignored).</summary>
    public static bool SameMeaning(JsonNode? a, JsonNode? b) => JsonNode.DeepEquals(a, b);
}
