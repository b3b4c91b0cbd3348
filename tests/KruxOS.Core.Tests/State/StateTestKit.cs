using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.State;

namespace KruxOS.Core.Tests.State;

/// <summary>Shared fixtures of the state specs.</summary>
internal static class StateTestKit
{
    public static readonly DateTimeOffset T0 = new(2026, 3, 25, 14, 0, 0, TimeSpan.Zero);
    public static readonly AgentName Builder = AgentName.Parse("builder");
    public static readonly AgentName Reviewer = AgentName.Parse("reviewer");

    public static StoredJson J(string json) => StoredJson.Parse(json);

    public static JsonElement E(string json)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.Clone();
    }

    /// <summary>The property names of an output record as an agent receives it (snake_case, CoreJson).</summary>
    public static string[] WireFields(object output) =>
        [.. JsonSerializer.SerializeToElement(output, output.GetType(), CoreJson.Options).EnumerateObject().Select(p => p.Name)];

    public static string Wire(object output) => JsonSerializer.Serialize(output, output.GetType(), CoreJson.Options);
}
