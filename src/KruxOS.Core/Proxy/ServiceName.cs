using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Proxy;

/// <summary>
/// The name of a service behind the Service Proxy (<c>gmail</c>, <c>slack</c>): lower-case letters and digits, 2 to 32
/// characters, starting with a letter. It names the vault entry <c>service/&lt;name&gt;/oauth</c> and the replica directory
/// <c>&lt;data&gt;/proxy/&lt;name&gt;/</c>, so nothing that could walk a path (dots, slashes) is ever a service name.
/// </summary>
[JsonConverter(typeof(ServiceNameJsonConverter))]
public readonly partial record struct ServiceName
{
    private ServiceName(string value) => Value = value;

    /// <summary>The name.</summary>
    public string Value { get; }

    /// <summary>Parses <paramref name="text"/>; false with a reason when it is not a service name.</summary>
    public static bool TryParse(string? text, out ServiceName name, out string reason)
    {
        name = default;
        if (string.IsNullOrEmpty(text)) { reason = "a service name is required"; return false; }
        if (!Pattern().IsMatch(text)) { reason = "a service name is 2 to 32 lower-case letters and digits, starting with a letter"; return false; }
        name = new ServiceName(text);
        reason = string.Empty;
        return true;
    }

    /// <summary>Parses a name known to be valid (adapters' constants); throws otherwise.</summary>
    public static ServiceName Parse(string text) => TryParse(text, out var n, out var r) ? n : throw new FormatException(r);

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;

    [GeneratedRegex("^[a-z][a-z0-9]{1,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

/// <summary>Writes a <see cref="ServiceName"/> as its string; refuses anything else when reading.</summary>
public sealed class ServiceNameJsonConverter : JsonConverter<ServiceName>
{
    /// <inheritdoc />
    public override ServiceName Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ServiceName.TryParse(reader.GetString(), out var n, out var reason) ? n : throw new JsonException(reason);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, ServiceName value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}
