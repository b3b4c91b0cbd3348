using System.Text.RegularExpressions;

namespace KruxOS.Core.Agents;

/// <summary>
/// The name of an agent identity: 1–63 characters, lower-case letters, digits, '-' and '_',
/// starting with a letter or digit. <c>default</c> is reserved.
/// </summary>
[System.Text.Json.Serialization.JsonConverter(typeof(Serialization.AgentNameJsonConverter))]
public readonly partial record struct AgentName
{
    /// <summary>The reserved name that can never be created.</summary>
    public const string Reserved = "default";

    private AgentName(string value) => Value = value;

    /// <summary>The name.</summary>
    public string Value { get; }

    /// <summary>Validates a name; <paramref name="reason"/> says why it was refused.</summary>
    public static bool TryParse(string? text, out AgentName name, out string reason)
    {
        name = default;
        if (string.IsNullOrWhiteSpace(text)) { reason = "agent name is empty"; return false; }
        if (!Shape().IsMatch(text))
        {
            reason = "agent name must be 1-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit";
            return false;
        }
        if (text == Reserved) { reason = "'default' is a reserved agent name"; return false; }
        name = new AgentName(text);
        reason = string.Empty;
        return true;
    }

    /// <summary>Prefix of the session key used for calls made with a user token (never a valid agent name: it has a dot).</summary>
    public const string UserContextPrefix = "user.";

    /// <summary>
    /// The session key of the operator's own context for a user token id. It can never collide with an
    /// agent, because agent names cannot contain a dot.
    /// </summary>
    public static AgentName UserContext(string userTokenId) =>
        new(UserContextPrefix + new string(userTokenId.Where(c => char.IsAsciiLetterOrDigit(c) || c == '-').Take(64).ToArray()));

    /// <summary>True for a <see cref="UserContext"/> key.</summary>
    public bool IsUserContext => Value?.StartsWith(UserContextPrefix, StringComparison.Ordinal) == true;

    /// <summary>Parses a name known to be valid (from the journal or the wire), including user-context keys; throws otherwise.</summary>
    public static AgentName Parse(string text)
    {
        if (text.StartsWith(UserContextPrefix, StringComparison.Ordinal) && text.Length > UserContextPrefix.Length
            && text.Length <= 80 && text[UserContextPrefix.Length..].All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            return new AgentName(text);
        return TryParse(text, out var name, out var reason) ? name : throw new FormatException(reason);
    }

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;

    [GeneratedRegex("^[a-z0-9][a-z0-9_-]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex Shape();
}
