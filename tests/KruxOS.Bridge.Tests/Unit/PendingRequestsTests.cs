namespace KruxOS.Bridge.Tests.Unit;

/// <summary>Bookkeeping of unanswered requests across reconnects.</summary>
public sealed class PendingRequestsTests
{
    [Fact]
    public void Requests_are_answered_once()
    {
        var p = new PendingRequests(10);
        Assert.True(p.TryAdd("1", "tools/call", "{}", out _));
        Assert.False(p.TryAdd("1", "tools/call", "{}", out var why));
        Assert.Contains("outstanding", why);
        Assert.Equal("tools/call", p.Complete("1")!.Method);
        Assert.Null(p.Complete("1"));
        Assert.True(p.TryAdd("1", "tools/list", "{}", out _)); // an id may be reused once answered
    }

    [Fact]
    public void String_and_number_ids_are_distinct()
    {
        var p = new PendingRequests(10);
        Assert.True(p.TryAdd("1", "a", "{}", out _));
        Assert.True(p.TryAdd("\"1\"", "b", "{}", out _));
        Assert.Equal("b", p.Complete("\"1\"")!.Method);
    }

    [Fact]
    public void Capacity_is_bounded()
    {
        var p = new PendingRequests(2);
        Assert.True(p.TryAdd("1", "m", "{}", out _));
        Assert.True(p.TryAdd("2", "m", "{}", out _));
        Assert.False(p.TryAdd("3", "m", "{}", out var why));
        Assert.Contains("too many", why);
        p.Complete("1");
        Assert.True(p.TryAdd("3", "m", "{}", out _));
    }

    [Fact]
    public void A_request_is_sent_once_per_connection_and_again_after_a_reconnect()
    {
        var p = new PendingRequests(10);
        p.TryAdd("1", "initialize", "i", out _);
        p.TryAdd("2", "tools/call", "c2", out _);
        p.TryAdd("3", "tools/call", "c3", out _);

        Assert.True(p.ClaimForSend("1", 1));
        Assert.False(p.ClaimForSend("1", 1));
        Assert.True(p.ClaimForSend("2", 1));
        p.Complete("1");
        Assert.False(p.ClaimForSend("1", 1)); // answered

        // The connection drops: on generation 2, everything unanswered goes again, oldest first, including
        // "3", which was queued but never sent; the send loop then skips it.
        var resend = p.ClaimUnsent(2);
        Assert.Equal(["2", "3"], resend.Select(e => e.IdKey));
        Assert.False(p.ClaimForSend("3", 2));
        Assert.Empty(p.ClaimUnsent(2));
    }

    [Fact]
    public void Drain_all_empties_the_table_in_order()
    {
        var p = new PendingRequests(10);
        p.TryAdd("b", "m", "{}", out _);
        p.TryAdd("a", "m", "{}", out _);
        Assert.Equal(["b", "a"], p.DrainAll().Select(e => e.IdKey));
        Assert.Equal(0, p.Count);
    }
}
