using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.Cli;

/// <summary>Plain-text tables and JSON output for the CLI.</summary>
public static class Output
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Pretty JSON.</summary>
    public static string Json(JsonNode? node) => node?.ToJsonString(Indented) ?? "null";

    /// <summary>An aligned table with a header row.</summary>
    public static string Table(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var all = new List<IReadOnlyList<string>> { headers };
        all.AddRange(rows);
        var widths = headers.Select((_, i) => all.Max(r => i < r.Count ? r[i].Length : 0)).ToArray();
        var sb = new StringBuilder();
        foreach (var row in all)
        {
            for (var i = 0; i < headers.Count; i++)
            {
                var cell = i < row.Count ? row[i] : "";
                sb.Append(i == headers.Count - 1 ? cell : cell.PadRight(widths[i] + 2));
            }
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>A string property or a dash.</summary>
    public static string Str(JsonNode? node, string name) =>
        node?[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : node?[name] is JsonValue n ? n.ToJsonString() : "-";

    /// <summary>An ISO timestamp shortened for tables, or "never".</summary>
    public static string When(JsonNode? node, string name) =>
        node?[name] is JsonValue v && v.TryGetValue<string>(out var s) && DateTimeOffset.TryParse(s, out var t)
            ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)
            : "never";
}
