using System.Buffers;
using System.Text.Json;

namespace KruxOS.Core.Capabilities;

/// <summary>Generates the JSON Schema (draft 2020-12 subset that MCP clients read) of a capability's inputs.</summary>
public static class InputSchema
{
    /// <summary>The <c>inputSchema</c> object for <c>tools/list</c>.</summary>
    public static JsonElement For(CapabilityDefinition definition)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("type", "object");
            w.WriteStartObject("properties");
            foreach (var input in definition.Inputs)
            {
                w.WriteStartObject(input.Name);
                var (type, format) = JsonType(input.Type);
                // Any JSON value: no "type" keyword.
                if (input.Type != InputType.Json) w.WriteString("type", type);
                if (format is not null) w.WriteString("format", format);
                w.WriteString("description", input.Description);
                if (input.Default is { } d) { w.WritePropertyName("default"); d.WriteTo(w); }
                if (!input.Allowed.IsDefaultOrEmpty)
                {
                    w.WriteStartArray("enum");
                    foreach (var a in input.Allowed) w.WriteStringValue(a);
                    w.WriteEndArray();
                }
                if (input.Minimum is { } min) w.WriteNumber("minimum", min);
                if (input.Maximum is { } max) w.WriteNumber("maximum", max);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteStartArray("required");
            foreach (var input in definition.Inputs.Where(i => i.Required)) w.WriteStringValue(input.Name);
            w.WriteEndArray();
            w.WriteBoolean("additionalProperties", false);
            w.WriteEndObject();
        }
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }

    private static (string Type, string? Format) JsonType(InputType t) => t switch
    {
        InputType.Integer => ("integer", null),
        InputType.Float or InputType.Number => ("number", null),
        InputType.Boolean => ("boolean", null),
        InputType.Object => ("object", null),
        InputType.Array => ("array", null),
        InputType.DateTime => ("string", "date-time"),
        InputType.Url => ("string", "uri"),
        _ => ("string", null),
    };
}
