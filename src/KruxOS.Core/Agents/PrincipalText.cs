namespace KruxOS.Core.Agents;

/// <summary>
/// How a principal is named where agents read who did something (<c>owner_agent</c> of shared state, the
/// <c>from</c> of a message): an agent by its bare name, the operator as <c>user:&lt;token label&gt;</c>, the
/// gateway itself as <c>system:&lt;component&gt;</c>. Agent names cannot contain a colon, so no agent can
/// pass for the operator or the gateway.
/// </summary>
public static class PrincipalText
{
    /// <summary>The prefix of the operator's names.</summary>
    public const string UserPrefix = "user:";

    /// <summary>The prefix of the gateway's own names.</summary>
    public const string SystemPrefix = "system:";

    /// <summary>An agent's name, or <c>user:&lt;label&gt;</c>.</summary>
    public static string Of(Principal principal)
    {
        ArgumentNullException.ThrowIfNull(principal);
        return principal.Kind == PrincipalKind.Agent ? principal.Name : UserPrefix + principal.Name;
    }

    /// <summary><c>system:&lt;component&gt;</c> for a gateway component (lower-case letters, digits and '-', 1-32 characters).</summary>
    public static string System(string component)
    {
        ArgumentException.ThrowIfNullOrEmpty(component);
        if (!IsComponent(component))
            throw new ArgumentException("a system component is 1-32 characters of a-z, 0-9 and '-'", nameof(component));
        return SystemPrefix + component;
    }

    /// <summary>Whether <paramref name="text"/> is <c>system:&lt;component&gt;</c>.</summary>
    public static bool IsSystem(string text) =>
        text.StartsWith(SystemPrefix, StringComparison.Ordinal) && IsComponent(text[SystemPrefix.Length..]);

    /// <summary>
    /// Whether <paramref name="text"/> is <c>user:&lt;label&gt;</c> with a label as user tokens have them (1-100
    /// printable characters).
    /// </summary>
    public static bool IsUser(string text)
    {
        if (!text.StartsWith(UserPrefix, StringComparison.Ordinal)) return false;
        var label = text[UserPrefix.Length..];
        return label.Length is > 0 and <= 100 && !string.IsNullOrWhiteSpace(label) && !label.Any(char.IsControl)
               && HasOnlyPairedSurrogates(label);
    }

    private static bool HasOnlyPairedSurrogates(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) i++;
            else if (char.IsSurrogate(text[i])) return false;
        }
        return true;
    }

    private static bool IsComponent(string component) =>
        component.Length is > 0 and <= 32 && component.All(c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-');

    /// <summary>Whether <paramref name="text"/> names an agent (a valid agent name, not the operator or the gateway).</summary>
    public static bool IsAgent(string text, out AgentName agent) => AgentName.TryParse(text, out agent, out _);
}
