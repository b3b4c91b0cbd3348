using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Proxy;

/// <summary>
/// The id of a buffered write: <c>wr-</c> and 32 lower-case hex digits (a version-7 GUID, so ids sort by creation). It is
/// the entity id of the write and what agents and operators cancel by; anything else given as a write id is refused
/// before it reaches an entity.
/// </summary>
[JsonConverter(typeof(WriteIdJsonConverter))]
public readonly partial record struct WriteId
{
    /// <summary>The prefix of every write id.</summary>
    public const string Prefix = "wr-";

    private WriteId(string value) => Value = value;

    /// <summary>The id.</summary>
    public string Value { get; }

    /// <summary>A new id for a write buffered at <paramref name="at"/>.</summary>
    public static WriteId New(DateTimeOffset at) => new(Prefix + Guid.CreateVersion7(at).ToString("N"));

    /// <summary>Parses <paramref name="text"/>; false with a reason when it is not a write id.</summary>
    public static bool TryParse(string? text, out WriteId id, out string reason)
    {
        id = default;
        if (string.IsNullOrEmpty(text)) { reason = "a write id is required"; return false; }
        if (!Pattern().IsMatch(text)) { reason = "a write id is 'wr-' followed by 32 lower-case hex digits"; return false; }
        id = new WriteId(text);
        reason = string.Empty;
        return true;
    }

    /// <summary>Parses a known-valid id; throws otherwise.</summary>
    public static WriteId Parse(string text) => TryParse(text, out var id, out var r) ? id : throw new FormatException(r);

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;

    [GeneratedRegex("^wr-[0-9a-f]{32}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

/// <summary>Writes a <see cref="WriteId"/> as its string; refuses anything else when reading.</summary>
public sealed class WriteIdJsonConverter : JsonConverter<WriteId>
{
    /// <inheritdoc />
    public override WriteId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        WriteId.TryParse(reader.GetString(), out var id, out var reason) ? id : throw new JsonException(reason);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, WriteId value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}

/// <summary>
/// The idempotency marker of one write: <c>kxw-&lt;32 hex of the write id&gt;-&lt;32 hex of a random nonce&gt;</c>. The adapter
/// puts it into the provider request (a message header, Slack message metadata) and looks for it in
/// <c>FindExecutedAsync</c>, so a crash between "the provider accepted" and "recorded done" never sends twice. The nonce is
/// drawn when the write is buffered and persisted with it; the agent sees only the write id, so it cannot plant a message
/// carrying a future write's marker to make that write look already done.
/// </summary>
[JsonConverter(typeof(WriteMarkerJsonConverter))]
public readonly partial record struct WriteMarker
{
    /// <summary>The prefix of every marker.</summary>
    public const string Prefix = "kxw-";

    private WriteMarker(string value) => Value = value;

    /// <summary>The marker text (ASCII letters, digits and dashes only, 69 characters): safe in any header or metadata field.</summary>
    public string Value { get; }

    /// <summary>A fresh marker for <paramref name="id"/> (128 random bits).</summary>
    public static WriteMarker New(WriteId id)
    {
        Span<byte> nonce = stackalloc byte[16];
        RandomNumberGenerator.Fill(nonce);
        return new WriteMarker(Prefix + id.Value[WriteId.Prefix.Length..] + "-" + Convert.ToHexStringLower(nonce));
    }

    /// <summary>Parses a marker read back (from the journal, or from a provider's record); false when malformed.</summary>
    public static bool TryParse(string? text, out WriteMarker marker)
    {
        marker = default;
        if (string.IsNullOrEmpty(text) || !Pattern().IsMatch(text)) return false;
        marker = new WriteMarker(text);
        return true;
    }

    /// <summary>True when this marker belongs to <paramref name="id"/>.</summary>
    public bool IsFor(WriteId id) => Value is not null && Value.AsSpan(Prefix.Length, 32).SequenceEqual(id.Value.AsSpan(WriteId.Prefix.Length));

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;

    [GeneratedRegex("^kxw-[0-9a-f]{32}-[0-9a-f]{32}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}

/// <summary>Writes a <see cref="WriteMarker"/> as its string; refuses anything else when reading.</summary>
public sealed class WriteMarkerJsonConverter : JsonConverter<WriteMarker>
{
    /// <inheritdoc />
    public override WriteMarker Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        WriteMarker.TryParse(reader.GetString(), out var m) ? m : throw new JsonException("not a write marker");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, WriteMarker value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}
