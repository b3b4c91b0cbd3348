using System.Globalization;

namespace KruxOS.Core.Slack;

/// <summary>
/// The shapes of Slack identifiers, checked before any of them reaches a provider request, the replica or an answer:
/// an agent's input and a provider's answer are both untrusted. Pure functions.
/// </summary>
public static class SlackIds
{
    /// <summary>The longest identifier accepted (Slack ids are 9–11 characters today).</summary>
    public const int MaxIdLength = 32;

    /// <summary>The longest reaction name accepted (Slack's emoji names are at most 100 characters).</summary>
    public const int MaxReactionLength = 100;

    /// <summary>
    /// A conversation id: <c>C…</c> (public), <c>G…</c> (private/group) or <c>D…</c> (direct), then upper-case
    /// letters and digits.
    /// </summary>
    public static bool IsChannelId(string? value) =>
        value is { Length: >= 3 and <= MaxIdLength } && value[0] is 'C' or 'G' or 'D' && AllUpperAlnum(value);

    /// <summary>A user id: <c>U…</c>, <c>W…</c> (enterprise) or <c>B…</c> (a bot without a user), then upper-case letters and digits.</summary>
    public static bool IsUserId(string? value) =>
        value is { Length: >= 3 and <= MaxIdLength } && value[0] is 'U' or 'W' or 'B' && AllUpperAlnum(value);

    /// <summary>A message timestamp: seconds, a dot, six digits of microseconds (<c>1712345678.000100</c>).</summary>
    public static bool IsTs(string? value)
    {
        if (value is not { Length: >= 8 and <= 24 }) return false;
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        if (dot < 1 || value.Length - dot - 1 != 6) return false;
        for (var i = 0; i < value.Length; i++)
            if (i != dot && !char.IsAsciiDigit(value[i])) return false;
        return true;
    }

    /// <summary>
    /// A reaction (emoji) name without colons: lower-case letters, digits, <c>_ - + '</c>, and an optional skin tone
    /// suffix <c>::skin-tone-N</c>.
    /// </summary>
    public static bool IsReactionName(string? value)
    {
        if (value is not { Length: >= 1 and <= MaxReactionLength }) return false;
        var name = value;
        var tone = value.IndexOf("::skin-tone-", StringComparison.Ordinal);
        if (tone >= 0)
        {
            var digit = value[(tone + "::skin-tone-".Length)..];
            if (digit is not ("2" or "3" or "4" or "5" or "6")) return false;
            name = value[..tone];
            if (name.Length == 0) return false;
        }
        foreach (var c in name)
            if (!(char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '_' or '-' or '+' or '\'')) return false;
        return true;
    }

    /// <summary>A message id of the <c>slack.read</c> input, <c>"&lt;channel_id&gt;/&lt;ts&gt;"</c>, parsed.</summary>
    public static bool TryParseMessageId(string? value, out string channelId, out string ts)
    {
        channelId = ts = "";
        if (value is null) return false;
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        if (slash < 0) return false;
        var c = value[..slash];
        var t = value[(slash + 1)..];
        if (!IsChannelId(c) || !IsTs(t)) return false;
        channelId = c;
        ts = t;
        return true;
    }

    /// <summary>The message id <c>slack.read</c> takes, for a message.</summary>
    public static string MessageId(string channelId, string ts) => channelId + "/" + ts;

    /// <summary>A ts as microseconds since the epoch (for ordering and comparisons); false if it is not a ts.</summary>
    public static bool TryTsMicros(string? ts, out long micros)
    {
        micros = 0;
        if (!IsTs(ts)) return false;
        var dot = ts!.IndexOf('.', StringComparison.Ordinal);
        if (!long.TryParse(ts.AsSpan(0, dot), NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > 100_000_000_000) return false;
        micros = seconds * 1_000_000 + long.Parse(ts.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture);
        return true;
    }

    /// <summary>The ts of an instant (microsecond precision).</summary>
    public static string TsOf(DateTimeOffset instant)
    {
        var micros = (instant.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
        return string.Create(CultureInfo.InvariantCulture, $"{micros / 1_000_000}.{micros % 1_000_000:D6}");
    }

    /// <summary>The instant of a ts; false if it is not a ts.</summary>
    public static bool TryInstant(string? ts, out DateTimeOffset instant)
    {
        instant = default;
        if (!TryTsMicros(ts, out var micros)) return false;
        instant = DateTimeOffset.UnixEpoch.AddTicks(micros * 10);
        return true;
    }

    private static bool AllUpperAlnum(string value)
    {
        foreach (var c in value)
            if (!(char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c))) return false;
        return true;
    }
}
