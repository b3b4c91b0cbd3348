using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Policy;

/// <summary>How a <see cref="CapabilityPattern"/> matches.</summary>
public enum PatternKind
{
    /// <summary>One capability, by its dotted name.</summary>
    Exact,
    /// <summary><c>category.*</c> or <c>state.shared.*</c>: every capability below the prefix, at any depth.</summary>
    Prefix,
    /// <summary><c>*</c>: every capability.</summary>
    All,
}

/// <summary>
/// The capability part of a rule: an exact dotted name, a dotted prefix followed by <c>.*</c>, or <c>*</c>.
/// Other glob shapes are refused when the file is compiled so that rules can be indexed by name.
/// </summary>
public sealed record CapabilityPattern
{
    private CapabilityPattern(PatternKind kind, string text, string prefix)
    {
        Kind = kind;
        Text = text;
        Prefix = prefix;
    }

    /// <summary>The pattern as written (after trimming).</summary>
    public string Text { get; }

    /// <summary>The kind of pattern.</summary>
    public PatternKind Kind { get; }

    /// <summary>For <see cref="PatternKind.Prefix"/>: the prefix including its trailing dot (<c>filesystem.</c>); for Exact the name.</summary>
    public string Prefix { get; }

    /// <summary>The pattern matching every capability.</summary>
    public static CapabilityPattern Everything { get; } = new(PatternKind.All, "*", string.Empty);

    /// <summary>Parses a pattern, or explains why it is not one.</summary>
    public static bool TryParse(string? text, out CapabilityPattern pattern, out string error)
    {
        pattern = Everything;
        error = string.Empty;
        var t = text?.Trim() ?? string.Empty;
        if (t == "*") return true;
        if (t.EndsWith(".*", StringComparison.Ordinal))
        {
            var stem = t[..^2];
            // A one-segment stem ("filesystem") is a category; validate it as part of a dotted name.
            if (stem.Contains('*') || !CapabilityName.TryParse(stem + ".x", out _))
            {
                error = $"'{t}' is not a capability glob: use 'name.op', 'prefix.*' or '*'";
                return false;
            }
            pattern = new CapabilityPattern(PatternKind.Prefix, t, stem + ".");
            return true;
        }
        if (!CapabilityName.TryParse(t, out _))
        {
            error = t.Contains('*')
                ? $"'{t}' is not a supported capability glob: use 'name.op', 'prefix.*' or '*'"
                : $"'{t}' is not a dotted capability name";
            return false;
        }
        pattern = new CapabilityPattern(PatternKind.Exact, t, t);
        return true;
    }

    /// <summary>True when the pattern matches the dotted capability name.</summary>
    public bool Matches(string capability) => Kind switch
    {
        PatternKind.All => true,
        PatternKind.Prefix => capability.StartsWith(Prefix, StringComparison.Ordinal),
        _ => string.Equals(capability, Prefix, StringComparison.Ordinal),
    };

    /// <summary>True when every name this pattern matches is also matched by <paramref name="other"/>.</summary>
    public bool IsCoveredBy(CapabilityPattern other) => other.Kind switch
    {
        PatternKind.All => true,
        PatternKind.Prefix => Kind != PatternKind.All && Prefix.StartsWith(other.Prefix, StringComparison.Ordinal),
        _ => Kind == PatternKind.Exact && Prefix == other.Prefix,
    };

    /// <inheritdoc />
    public override string ToString() => Text;
}
