using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;

namespace KruxOS.Core.Slack;

/// <summary>
/// The Slack replica's sync cursor: per channel, the ts of the newest message synced (<c>""</c> for a channel synced but
/// empty). A channel that is not in the cursor gets an initial sync (its last 100 messages), one that is gets an
/// incremental one (<c>conversations.history</c> with <c>oldest</c>). Stored by the machinery as the replica's cursor
/// string; parsed here, strictly: a cursor that does not parse is treated as none (an initial sync, which is harmless).
/// </summary>
public sealed record SlackSyncCursor(ImmutableSortedDictionary<string, string> Channels)
{
    /// <summary>The cursor of a replica that never synced.</summary>
    public static readonly SlackSyncCursor Empty = new(ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal));

    /// <summary>Parses a stored cursor; <see cref="Empty"/> when null or malformed (ids and ts are checked).</summary>
    public static SlackSyncCursor Parse(string? text)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 256 * 1024) return Empty;
        try
        {
            using var doc = JsonDocument.Parse(text);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("channels", out var channels)
                || channels.ValueKind != JsonValueKind.Object) return Empty;
            var b = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var p in channels.EnumerateObject())
            {
                if (!SlackIds.IsChannelId(p.Name) || p.Value.ValueKind != JsonValueKind.String) return Empty;
                var ts = p.Value.GetString()!;
                if (ts.Length != 0 && !SlackIds.IsTs(ts)) return Empty;
                b[p.Name] = ts;
            }
            return new SlackSyncCursor(b.ToImmutable());
        }
        catch (JsonException)
        {
            return Empty;
        }
    }

    /// <summary>The newest ts synced of a channel: null when the channel needs an initial sync, "" when synced and empty.</summary>
    public string? NewestOf(string channelId) => Channels.TryGetValue(channelId, out var ts) ? ts : null;

    /// <summary>This cursor with a channel's newest ts advanced (never moved back).</summary>
    public SlackSyncCursor Advance(string channelId, string? newestTs)
    {
        var current = NewestOf(channelId);
        var next = Newer(current, newestTs) ?? "";
        return new SlackSyncCursor(Channels.SetItem(channelId, next));
    }

    /// <summary>This cursor restricted to the channels that still exist.</summary>
    public SlackSyncCursor Keep(IEnumerable<string> channelIds)
    {
        var keep = channelIds.ToHashSet(StringComparer.Ordinal);
        return new SlackSyncCursor(Channels.RemoveRange(Channels.Keys.Where(k => !keep.Contains(k)).ToList()));
    }

    /// <summary>The stored form (<c>{"channels":{"C…":"ts"}}</c>).</summary>
    public string Serialize() => JsonSerializer.Serialize(new Dictionary<string, object> { ["channels"] = Channels });

    /// <summary>The later of two ts (either may be null or empty).</summary>
    public static string? Newer(string? a, string? b)
    {
        var ha = SlackIds.TryTsMicros(a, out var ma);
        var hb = SlackIds.TryTsMicros(b, out var mb);
        return (ha, hb) switch
        {
            (true, true) => ma >= mb ? a : b,
            (true, false) => a,
            (false, true) => b,
            _ => null,
        };
    }
}

/// <summary>The <c>slack.search</c> filters, checked and normalised (pure).</summary>
/// <param name="ChannelId">An exact channel id, when the channel input was one.</param>
/// <param name="ChannelName">A channel name (without <c>#</c>, lower case), when the input was a name.</param>
/// <param name="UserId">An exact user id, when the user input was one.</param>
/// <param name="UserName">A user-name substring (lower case), when the input was not an id.</param>
/// <param name="Query">A text substring (lower case), or null.</param>
/// <param name="FromMicros">Messages at or after this instant (µs since the epoch), or null.</param>
/// <param name="ToMicros">Messages at or before this instant, or null.</param>
/// <param name="Limit">1–100.</param>
/// <param name="Offset">0 or more.</param>
public sealed record SlackSearchFilter(string? ChannelId, string? ChannelName, string? UserId, string? UserName, string? Query,
    long? FromMicros, long? ToMicros, int Limit, int Offset)
{
    /// <summary>The largest <c>limit</c>.</summary>
    public const int MaxLimit = 100;

    /// <summary>
    /// Builds the filter from the inputs; an invalid date gives the field and reason (an <c>InvalidInput</c>).
    /// Dates are RFC 3339 (<c>2026-12-07T10:00:00Z</c>) or a Slack ts (<c>1733565600.000000</c>).
    /// </summary>
    public static (SlackSearchFilter? Filter, string? Field, string? Reason) Create(string? channel, string? user, string? query,
        string? fromDate, string? toDate, int? limit, int? offset)
    {
        string? channelId = null, channelName = null, userId = null, userName = null;
        if (!string.IsNullOrWhiteSpace(channel))
        {
            var c = channel.Trim();
            if (SlackIds.IsChannelId(c)) channelId = c;
            else channelName = c.TrimStart('#').ToLowerInvariant();
        }
        if (!string.IsNullOrWhiteSpace(user))
        {
            var u = user.Trim();
            if (SlackIds.IsUserId(u)) userId = u;
            else userName = u.TrimStart('@').ToLowerInvariant();
        }
        long? from = null, to = null;
        if (!string.IsNullOrWhiteSpace(fromDate))
        {
            if (!TryInstant(fromDate.Trim(), out var f)) return (null, "from_date", "must be an RFC 3339 date-time or a Slack ts");
            from = f;
        }
        if (!string.IsNullOrWhiteSpace(toDate))
        {
            if (!TryInstant(toDate.Trim(), out var t)) return (null, "to_date", "must be an RFC 3339 date-time or a Slack ts");
            to = t;
        }
        var l = limit ?? 20;
        if (l is < 1 or > MaxLimit) return (null, "limit", "must be between 1 and 100");
        var o = offset ?? 0;
        if (o < 0) return (null, "offset", "must not be negative");
        return (new SlackSearchFilter(channelId, channelName, userId, userName,
            string.IsNullOrEmpty(query) ? null : query.ToLowerInvariant(), from, to, l, o), null, null);
    }

    private static bool TryInstant(string text, out long micros)
    {
        if (SlackIds.TryTsMicros(text, out micros)) return true;
        // RFC 3339 only: yyyy-MM-ddTHH:mm:ss[.fff](Z|±hh:mm); nothing locale-shaped like 12/07/2026
        if (text.Length is >= 20 and <= 40 && char.IsAsciiDigit(text[0]) && text[4] == '-' && text[7] == '-' && text[10] is 'T' or 't'
            && (text[^1] is 'Z' or 'z' || text[^6] is '+' or '-')
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var instant))
        {
            micros = (instant.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) / 10;
            return true;
        }
        micros = 0;
        return false;
    }
}
