using System.Collections.Immutable;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Policy;

/// <summary>The outcome of testing one condition against a call's arguments.</summary>
public enum ConditionResult
{
    /// <summary>The condition holds.</summary>
    Match,
    /// <summary>The condition does not hold (including: the argument is absent).</summary>
    NoMatch,
    /// <summary>
    /// The condition cannot be decided safely (a path climbing above <c>/</c>).
    /// The rule is skipped and the whole decision becomes <c>blocked</c>, so this can never loosen anything.
    /// </summary>
    Indeterminate,
}

/// <summary>
/// One argument condition of a rule (spec §6.5, §18 row 14). All conditions of a rule must hold.
/// A condition on an argument the call does not carry is false.
/// </summary>
public abstract record PolicyCondition(string Argument)
{
    /// <summary>The operator as written in policy files (<c>path_prefix</c>, …).</summary>
    public abstract string Operator { get; }

    /// <summary>The operand as written, for reports.</summary>
    public abstract string Operand { get; }

    /// <summary>Why an <see cref="ConditionResult.Indeterminate"/> result was returned; a protection name.</summary>
    public const string PathEscape = "path_escape";

    /// <summary>Tests the condition; <paramref name="why"/> names the cause of an indeterminate result.</summary>
    public ConditionResult Evaluate(JsonElement arguments, out string? why)
    {
        var cache = new ArgumentCache();
        return Evaluate(arguments, ref cache, out why);
    }

    internal abstract ConditionResult Evaluate(JsonElement arguments, ref ArgumentCache cache, out string? why);

    private protected bool TryGetArgument(JsonElement arguments, out JsonElement value)
    {
        if (arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty(Argument, out value) && value.ValueKind != JsonValueKind.Null)
            return true;
        value = default;
        return false;
    }

    // Path conditions go through the per-decision cache instead of decoding the argument again.
    private protected ConditionResult CanonicalPath(JsonElement arguments, ref ArgumentCache cache, out string path, out string? why)
    {
        var r = cache.CanonicalPath(arguments, Argument, out path);
        why = r == ConditionResult.Indeterminate ? PathEscape : null;
        return r;
    }

    /// <inheritdoc />
    public sealed override string ToString() => $"{Argument} {Operator} {Operand}";

}

/// <summary><c>path_prefix</c>: the canonical path is the prefix or lies below it.</summary>
public sealed record PathPrefixCondition(string Argument, string Prefix) : PolicyCondition(Argument)
{
    public override string Operator => "path_prefix";
    public override string Operand => Prefix;

    internal override ConditionResult Evaluate(JsonElement arguments, ref ArgumentCache cache, out string? why)
    {
        var r = CanonicalPath(arguments, ref cache, out var path, out why);
        if (r != ConditionResult.Match) return r;
        return PolicyPaths.IsUnder(path, Prefix) ? ConditionResult.Match : ConditionResult.NoMatch;
    }
}

/// <summary><c>path_glob</c>: the canonical path matches a glob (<c>**</c>, <c>*</c>, <c>?</c>, <c>[…]</c>).</summary>
public sealed record PathGlobCondition(string Argument, string Glob, Regex Compiled) : PolicyCondition(Argument)
{
    public override string Operator => "path_glob";
    public override string Operand => Glob;

    internal override ConditionResult Evaluate(JsonElement arguments, ref ArgumentCache cache, out string? why)
    {
        var r = CanonicalPath(arguments, ref cache, out var path, out why);
        if (r != ConditionResult.Match) return r;
        return Compiled.IsMatch(path) ? ConditionResult.Match : ConditionResult.NoMatch;
    }

    public bool Equals(PathGlobCondition? other) => other is not null && Argument == other.Argument && Glob == other.Glob;
    public override int GetHashCode() => HashCode.Combine(Argument, Glob);
}

/// <summary>
/// <c>content_size_lt</c> / <c>content_size_gte</c>: the size in bytes of an argument. Strings count as
/// UTF-8 bytes, or as decoded bytes when the call's <c>encoding</c> is <c>base64</c>/<c>binary</c>;
/// other JSON values count as their serialized length.
/// </summary>
public sealed record ContentSizeCondition(string Argument, long Bytes, bool LessThan) : PolicyCondition(Argument)
{
    public override string Operator => LessThan ? "content_size_lt" : "content_size_gte";
    public override string Operand => Bytes.ToString(CultureInfo.InvariantCulture);

    internal override ConditionResult Evaluate(JsonElement arguments, ref ArgumentCache cache, out string? why)
    {
        why = null;
        if (!TryGetArgument(arguments, out var value)) return ConditionResult.NoMatch;
        var size = SizeOf(value, arguments);
        return (LessThan ? size < Bytes : size >= Bytes) ? ConditionResult.Match : ConditionResult.NoMatch;
    }

    /// <summary>The size a content condition measures.</summary>
    public static long SizeOf(JsonElement value, JsonElement arguments)
    {
        var raw = JsonMarshal.GetRawUtf8Value(value);
        if (value.ValueKind != JsonValueKind.String) return raw.Length;
        long size = raw.IndexOf((byte)'\\') < 0 ? raw.Length - 2 : Encoding.UTF8.GetByteCount(value.GetString()!);
        if (arguments.TryGetProperty("encoding", out var enc) && enc.ValueKind == JsonValueKind.String
            && (enc.ValueEquals("base64") || enc.ValueEquals("binary")))
        {
            var padding = raw.Length >= 4 && raw[^2] == (byte)'=' ? (raw[^3] == (byte)'=' ? 2 : 1) : 0;
            size = size / 4 * 3 - padding;
        }
        return size;
    }
}

/// <summary><c>equals</c>: the argument equals one of the listed values (strings ordinal, numbers numerically, booleans).</summary>
public sealed record EqualsCondition(string Argument, ImmutableArray<string> Values) : PolicyCondition(Argument)
{
    public override string Operator => "equals";
    public override string Operand => Values.Length == 1 ? Values[0] : "[" + string.Join(", ", Values) + "]";

    internal override ConditionResult Evaluate(JsonElement arguments, ref ArgumentCache cache, out string? why)
    {
        why = null;
        if (!TryGetArgument(arguments, out var value)) return ConditionResult.NoMatch;
        foreach (var expected in Values)
        {
            var equal = value.ValueKind switch
            {
                JsonValueKind.String => value.ValueEquals(expected),
                JsonValueKind.Number => double.TryParse(expected, NumberStyles.Float, CultureInfo.InvariantCulture, out var d)
                                        && value.TryGetDouble(out var v) && v == d,
                JsonValueKind.True => expected is "true" or "True",
                JsonValueKind.False => expected is "false" or "False",
                _ => false,
            };
            if (equal) return ConditionResult.Match;
        }
        return ConditionResult.NoMatch;
    }

    public bool Equals(EqualsCondition? other) =>
        other is not null && Argument == other.Argument && Values.SequenceEqual(other.Values);
    public override int GetHashCode() => HashCode.Combine(Argument, Values.Length);
}

/// <summary>
/// <c>matches</c>: a regular expression (.NET syntax, unanchored unless the pattern anchors itself) finds a
/// match in the string argument, or in the JSON text of a non-string argument. Patterns are compiled for
/// linear-time matching (<see cref="RegexOptions.NonBacktracking"/>), so a decision never depends on how long
/// matching takes: there is no timeout. Constructs that need backtracking (backreferences, lookarounds, atomic
/// groups, conditionals) are rejected when the file loads.
/// </summary>
public sealed record MatchesCondition(string Argument, string Pattern, Regex Compiled) : PolicyCondition(Argument)
{
    /// <summary>The options every <c>matches</c> pattern is compiled with.</summary>
    public const RegexOptions Options = RegexOptions.CultureInvariant | RegexOptions.NonBacktracking;

    public override string Operator => "matches";
    public override string Operand => Pattern;

    /// <summary>
    /// Compiles a pattern with <see cref="Options"/>. Throws <see cref="ArgumentException"/> for invalid syntax and
    /// <see cref="NotSupportedException"/> for a construct linear-time matching does not support.
    /// </summary>
    public static Regex Compile(string pattern) => new(pattern, Options);

    internal override ConditionResult Evaluate(JsonElement arguments, ref ArgumentCache cache, out string? why)
    {
        why = null;
        if (!TryGetArgument(arguments, out var value)) return ConditionResult.NoMatch;
        var text = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
        return Compiled.IsMatch(text) ? ConditionResult.Match : ConditionResult.NoMatch;
    }

    public bool Equals(MatchesCondition? other) => other is not null && Argument == other.Argument && Pattern == other.Pattern;
    public override int GetHashCode() => HashCode.Combine(Argument, Pattern);
}
