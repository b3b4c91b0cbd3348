using System.Text.RegularExpressions;

namespace KruxOS.Core.Capabilities;

/// <summary>
/// A dotted capability name such as <c>filesystem.read</c> or <c>state.shared.set</c>.
/// Lower-case segments of letters, digits and underscores; at least two segments.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Serialization.CapabilityNameJsonConverter))]
public readonly partial record struct CapabilityName
{
    private CapabilityName(string value) => Value = value;

    /// <summary>The dotted form.</summary>
    public string Value { get; }

    /// <summary>The first segment: the category (<c>filesystem</c>).</summary>
    public string Category => Value[..Value.IndexOf('.')];

    /// <summary>Parses a dotted name, or fails with a reason.</summary>
    public static bool TryParse(string? text, out CapabilityName name)
    {
        if (text is not null && text.Length <= 128 && Shape().IsMatch(text))
        {
            name = new CapabilityName(text);
            return true;
        }
        name = default;
        return false;
    }

    /// <summary>Parses a dotted name or throws <see cref="FormatException"/>; for trusted definitions.</summary>
    public static CapabilityName Parse(string text) =>
        TryParse(text, out var name) ? name : throw new FormatException($"'{text}' is not a dotted capability name");

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;

    [GeneratedRegex("^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)+$", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();
}
