using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KruxOS.Core.Approvals;

/// <summary>
/// The id of one approval request: <c>appr-</c> followed by 16 lower-case hex characters from the CSPRNG.
/// Callers see it as <c>request_id</c>.
/// </summary>
[JsonConverter(typeof(ApprovalIdJsonConverter))]
public readonly record struct ApprovalId
{
    /// <summary>The prefix of every approval id.</summary>
    public const string Prefix = "appr-";

    private ApprovalId(string value) => Value = value;

    /// <summary>The id as text.</summary>
    public string Value { get; }

    /// <summary>A new random id (reads the CSPRNG: call it when deciding, never in <c>Apply</c>).</summary>
    public static ApprovalId New() => new(Prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)));

    /// <summary>Parses an id: the prefix and 1-64 characters of <c>[a-z0-9-]</c>.</summary>
    public static bool TryParse(string? text, out ApprovalId id)
    {
        id = default;
        if (text is null || !text.StartsWith(Prefix, StringComparison.Ordinal) || text.Length <= Prefix.Length || text.Length > Prefix.Length + 64)
            return false;
        foreach (var c in text.AsSpan(Prefix.Length))
            if (c is not ((>= 'a' and <= 'z') or (>= '0' and <= '9') or '-')) return false;
        id = new ApprovalId(text);
        return true;
    }

    /// <summary>Parses an id or throws.</summary>
    public static ApprovalId Parse(string text) =>
        TryParse(text, out var id) ? id : throw new FormatException($"'{text}' is not an approval id");

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;
}

/// <summary>Writes an <see cref="ApprovalId"/> as its string.</summary>
public sealed class ApprovalIdJsonConverter : JsonConverter<ApprovalId>
{
    /// <inheritdoc />
    public override ApprovalId Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ApprovalId.TryParse(reader.GetString(), out var id) ? id : throw new JsonException("not an approval id");

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, ApprovalId value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}

/// <summary>Every approval message names the approval it concerns (routing reads only this).</summary>
public interface IWithApprovalId
{
    /// <summary>The approval concerned.</summary>
    ApprovalId ApprovalId { get; }
}
