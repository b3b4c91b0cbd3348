using KruxOS.Core.Slack;
using Xunit;

namespace KruxOS.Core.Tests.Slack;

public sealed class SlackIdsSpecs
{
    [Theory]
    [InlineData("C0123ABCD", true)]
    [InlineData("G01", true)]
    [InlineData("D0XYZ", true)]
    [InlineData("c0123abcd", false)]
    [InlineData("U0123ABCD", false)]
    [InlineData("C0/../x", false)]
    [InlineData("C0X&channel=C0Y", false)]
    [InlineData("C0BAD\n", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Channel_ids_are_checked(string? value, bool ok) => Assert.Equal(ok, SlackIds.IsChannelId(value));

    [Theory]
    [InlineData("1712345678.000100", true)]
    [InlineData("0.000000", true)]
    [InlineData("1712345678.0001", false)]
    [InlineData("1712345678", false)]
    [InlineData(".000100", false)]
    [InlineData("1.2&ts=3", false)]
    [InlineData("-1.000000", false)]
    public void Timestamps_are_checked(string value, bool ok) => Assert.Equal(ok, SlackIds.IsTs(value));

    [Theory]
    [InlineData("thumbsup", true)]
    [InlineData("+1", true)]
    [InlineData("white_check_mark", true)]
    [InlineData("wave::skin-tone-3", true)]
    [InlineData("wave::skin-tone-9", false)]
    [InlineData(":eyes:", false)]
    [InlineData("Eyes", false)]
    [InlineData("x&name=y", false)]
    [InlineData("", false)]
    public void Reaction_names_are_checked(string value, bool ok) => Assert.Equal(ok, SlackIds.IsReactionName(value));

    [Fact]
    public void Message_ids_parse_only_as_channel_slash_ts()
    {
        Assert.True(SlackIds.TryParseMessageId("C0GENERAL/1712345678.000100", out var c, out var ts));
        Assert.Equal(("C0GENERAL", "1712345678.000100"), (c, ts));
        Assert.False(SlackIds.TryParseMessageId("../../etc/passwd", out _, out _));
        Assert.False(SlackIds.TryParseMessageId("C0GENERAL/1712345678.000100/x", out _, out _));
        Assert.False(SlackIds.TryParseMessageId("C0GENERAL", out _, out _));
    }

    [Fact]
    public void A_ts_and_an_instant_convert_both_ways()
    {
        var at = new DateTimeOffset(2026, 12, 7, 10, 0, 0, 123, TimeSpan.Zero);
        var ts = SlackIds.TsOf(at);
        Assert.Equal("1796637600.123000", ts);
        Assert.True(SlackIds.TryInstant(ts, out var back));
        Assert.Equal(at, back);
    }
}

public sealed class SlackSyncCursorSpecs
{
    [Fact]
    public void A_cursor_round_trips_advances_only_forward_and_forgets_channels_that_are_gone()
    {
        var c = SlackSyncCursor.Empty.Advance("C0A", "1700000000.000002").Advance("C0B", null);
        Assert.Equal("1700000000.000002", c.NewestOf("C0A"));
        Assert.Equal("", c.NewestOf("C0B"));
        Assert.Null(c.NewestOf("C0C"));

        var older = c.Advance("C0A", "1600000000.000000");
        Assert.Equal("1700000000.000002", older.NewestOf("C0A"));
        var parsed = SlackSyncCursor.Parse(c.Serialize());
        Assert.Equal(c.Channels, parsed.Channels);
        Assert.Null(parsed.Keep(["C0B"]).NewestOf("C0A"));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not json")]
    [InlineData("[]")]
    [InlineData("{\"channels\":{\"../x\":\"1.000000\"}}")]
    [InlineData("{\"channels\":{\"C0A\":\"1.0\"}}")]
    [InlineData("{\"channels\":{\"C0A\":5}}")]
    public void A_cursor_that_does_not_parse_means_an_initial_sync(string? text) =>
        Assert.Empty(SlackSyncCursor.Parse(text).Channels);
}

public sealed class SlackSearchFilterSpecs
{
    [Fact]
    public void Inputs_become_exact_ids_or_lower_case_substrings()
    {
        var (f, _, _) = SlackSearchFilter.Create("#General", "Bob", "Deploy", "2026-12-07T00:00:00Z", "1796637600.000000", 5, 10);
        Assert.NotNull(f);
        Assert.Equal((null, "general", null, "bob", "deploy"), (f!.ChannelId, f.ChannelName, f.UserId, f.UserName, f.Query));
        Assert.Equal(1796601600L * 1_000_000, f.FromMicros);
        Assert.Equal(1796637600L * 1_000_000, f.ToMicros);
        Assert.Equal((5, 10), (f.Limit, f.Offset));

        var (ids, _, _) = SlackSearchFilter.Create("C0GENERAL", "U0BOB", null, null, null, null, null);
        Assert.Equal(("C0GENERAL", "U0BOB", 20, 0), (ids!.ChannelId, ids.UserId, ids.Limit, ids.Offset));
    }

    [Theory]
    [InlineData("yesterday", null, 20, "from_date")]
    [InlineData(null, "12/07/2026", 20, "to_date")]
    [InlineData(null, null, 101, "limit")]
    [InlineData(null, null, 0, "limit")]
    public void Bad_inputs_name_their_field(string? from, string? to, int limit, string field)
    {
        var (f, badField, reason) = SlackSearchFilter.Create(null, null, null, from, to, limit, 0);
        Assert.Null(f);
        Assert.Equal(field, badField);
        Assert.False(string.IsNullOrEmpty(reason));
    }
}
