using System.Text.Json;
using System.Text.Json.Serialization;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Serialization;

/// <summary>Writes an <see cref="AgentName"/> as its string; refuses invalid names when reading.</summary>
public sealed class AgentNameJsonConverter : JsonConverter<AgentName>
{
    public override AgentName Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        AgentName.Parse(reader.GetString() ?? throw new JsonException("agent name is null"));

    public override void Write(Utf8JsonWriter writer, AgentName value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}

/// <summary>Writes a <see cref="CapabilityName"/> as its dotted string.</summary>
public sealed class CapabilityNameJsonConverter : JsonConverter<CapabilityName>
{
    public override CapabilityName Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        CapabilityName.TryParse(reader.GetString(), out var n) ? n : throw new JsonException("not a capability name");

    public override void Write(Utf8JsonWriter writer, CapabilityName value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}
