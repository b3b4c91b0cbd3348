using System.Net.Http.Headers;
using KruxOS.Proxy.Slack;
using KruxOS.Testing.Fakes;
using Xunit;

namespace KruxOS.Gateway.Tests.Slack;

/// <summary>A token for specs (the gateway's tokens come only from the vault).</summary>
public sealed class PlainSlackToken(string value) : SlackToken
{
    public override bool IsBotToken => IsBotTokenShape(System.Text.Encoding.UTF8.GetBytes(value));

    public override void Authorize(HttpRequestMessage request) => request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", value);
}

/// <summary>The Slack Web API client against the fake Slack server: shapes, paging, errors, rate limits, hostile answers.</summary>
public sealed class SlackClientSpecs : IAsyncLifetime
{
    private FakeSlackServer _slack = null!;
    private SlackClient _client = null!;
    private HttpClient _http = null!;
    private PlainSlackToken _token = null!;

    public async ValueTask InitializeAsync()
    {
        _slack = await FakeSlackServer.StartAsync();
        var options = new SlackOptions { BaseUrl = new Uri(_slack.BaseUrl), MaxRateLimitWait = TimeSpan.FromSeconds(2), RequestTimeout = TimeSpan.FromSeconds(30) };
        _http = SlackClient.CreateHttpClient(options);
        _client = new SlackClient(_http, options);
        _token = new PlainSlackToken(_slack.Token);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _slack.DisposeAsync();
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Auth_test_names_the_bot_and_sends_the_token_only_as_a_bearer_header()
    {
        var r = await _client.AuthTestAsync(_token, Ct);

        Assert.True(r.Ok, r.Error?.ToString());
        Assert.Equal(FakeSlackServer.BotUserId, r.Value!.UserId);
        Assert.Equal("T0KRUXOS", r.Value.TeamId);
        var request = Assert.Single(_slack.Requests);
        Assert.Equal("Bearer " + _slack.Token, request.Authorization);
        Assert.DoesNotContain(_slack.Token, request.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_token_that_is_not_a_bot_token_is_refused_before_any_call()
    {
        var user = await _client.AuthTestAsync(new PlainSlackToken("xoxp-1234-user-token"), Ct);
        var spaced = await _client.AuthTestAsync(new PlainSlackToken("xoxb-12 34\r\nX-Injected: 1"), Ct);

        Assert.Equal("not_a_bot_token", user.Error!.Code);
        Assert.Equal(SlackFailureKind.Unauthorized, spaced.Error!.Kind);
        Assert.Equal(0, _slack.TotalCalls);
    }

    [Fact]
    public async Task A_wrong_or_revoked_token_is_unauthorized()
    {
        var wrong = await _client.AuthTestAsync(new PlainSlackToken("xoxb-0000-not-the-token"), Ct);
        Assert.Equal(("invalid_auth", SlackFailureKind.Unauthorized), (wrong.Error!.Code, wrong.Error.Kind));

        var revoke = await _client.RevokeAsync(_token, Ct);
        Assert.True(revoke.Ok && revoke.Value);
        Assert.True(_slack.Revoked);

        var after = await _client.AuthTestAsync(_token, Ct);
        Assert.Equal(("token_revoked", SlackFailureKind.Unauthorized), (after.Error!.Code, after.Error.Kind));
        var again = await _client.RevokeAsync(_token, Ct);
        Assert.True(again.Ok, "revoking a revoked token counts as revoked");
    }

    [Fact]
    public async Task Channels_and_users_page_with_cursors()
    {
        for (var i = 0; i < 5; i++) _slack.AddChannel($"C0CHAN{i}", $"chan-{i}", topic: $"topic {i}", isPrivate: i == 4, members: i + 1);
        for (var i = 0; i < 3; i++) _slack.AddUser($"U0USER{i}", $"user{i}", $"User {i}");

        var names = new List<string>();
        string? cursor = null;
        var pages = 0;
        do
        {
            var page = await _client.ListChannelsAsync(_token, cursor, 2, Ct);
            Assert.True(page.Ok, page.Error?.ToString());
            names.AddRange(page.Value!.Items.Select(c => c.Name));
            cursor = page.Value.NextCursor;
            pages++;
        } while (cursor is not null);
        var users = await _client.ListUsersAsync(_token, null, 100, Ct);
        var info = await _client.ChannelInfoAsync(_token, "C0CHAN4", Ct);

        Assert.Equal(3, pages);
        Assert.Equal(["chan-0", "chan-1", "chan-2", "chan-3", "chan-4"], names);
        Assert.Equal(["user0", "user1", "user2"], users.Value!.Items.Select(u => u.Name));
        Assert.True(info.Value!.IsPrivate);
        Assert.Equal(("topic 4", 5), (info.Value.Topic, info.Value.MemberCount));
    }

    [Fact]
    public async Task History_takes_messages_after_oldest_and_reads_back_the_write_marker()
    {
        _slack.AddChannel("C0GENERAL", "general");
        var first = _slack.Post("C0GENERAL", "U0ALICE", "first");
        var second = _slack.Post("C0GENERAL", "U0ALICE", "second");
        _slack.Post("C0GENERAL", "U0BOB", "a reply", threadTs: first);

        var posted = await _client.PostMessageAsync(_token, "C0GENERAL", "hello *team*", null, "wr-abc123", Ct);
        var all = await _client.HistoryAsync(_token, "C0GENERAL", null, null, 100, Ct);
        var newer = await _client.HistoryAsync(_token, "C0GENERAL", second, null, 100, Ct);
        var thread = await _client.RepliesAsync(_token, "C0GENERAL", first, null, null, 100, Ct);

        Assert.True(posted.Ok, posted.Error?.ToString());
        Assert.Equal(["hello *team*", "second", "first"], all.Value!.Items.Select(m => m.Text));
        Assert.Equal(1, all.Value.Items.Single(m => m.Ts == first).ReplyCount);
        var mine = Assert.Single(newer.Value!.Items);
        Assert.Equal((posted.Value!.Ts, "wr-abc123"), (mine.Ts, mine.WriteMarker));
        Assert.Equal(["first", "a reply"], thread.Value!.Items.Select(m => m.Text));
        Assert.All(thread.Value.Items, m => Assert.Equal(first, m.ThreadTs));
    }

    [Fact]
    public async Task Posting_into_a_thread_deleting_and_reacting_reach_the_workspace()
    {
        _slack.AddChannel("C0GENERAL", "general");
        var parent = _slack.Post("C0GENERAL", "U0ALICE", "question");

        var reply = await _client.PostMessageAsync(_token, "C0GENERAL", "answer", parent, "wr-reply1", Ct);
        var add = await _client.AddReactionAsync(_token, "C0GENERAL", parent, "thumbsup", Ct);
        var twice = await _client.AddReactionAsync(_token, "C0GENERAL", parent, "thumbsup", Ct);
        Assert.Equal([FakeSlackServer.BotUserId], _slack.ReactionUsers("C0GENERAL", parent, "thumbsup"));
        var remove = await _client.RemoveReactionAsync(_token, "C0GENERAL", parent, "thumbsup", Ct);
        var delete = await _client.DeleteMessageAsync(_token, "C0GENERAL", reply.Value!.Ts, Ct);
        var deleteForeign = await _client.DeleteMessageAsync(_token, "C0GENERAL", parent, Ct);

        Assert.True(add.Ok && remove.Ok && delete.Ok);
        Assert.Equal(("already_reacted", SlackFailureKind.Permanent), (twice.Error!.Code, twice.Error.Kind));
        Assert.Equal("cant_delete_message", deleteForeign.Error!.Code);
        Assert.Empty(_slack.ReactionUsers("C0GENERAL", parent, "thumbsup"));
        Assert.Empty(_slack.BotMessages());
    }

    [Fact]
    public async Task A_short_rate_limit_is_waited_out_and_a_long_one_is_returned_with_its_retry_after()
    {
        _slack.AddChannel("C0GENERAL", "general");
        _slack.FailNext("conversations.history", 1, FakeSlackFailure.RateLimited, retryAfterSeconds: 1);

        var waited = await _client.HistoryAsync(_token, "C0GENERAL", null, null, 10, Ct);
        Assert.True(waited.Ok, waited.Error?.ToString());
        Assert.Equal(2, _slack.Calls("conversations.history"));

        _slack.FailNext("conversations.history", 1, FakeSlackFailure.RateLimited, retryAfterSeconds: 120);
        var returned = await _client.HistoryAsync(_token, "C0GENERAL", null, null, 10, Ct);
        Assert.Equal(("ratelimited", SlackFailureKind.Transient, TimeSpan.FromSeconds(120)), (returned.Error!.Code, returned.Error.Kind, returned.Error.RetryAfter));
        Assert.Equal(3, _slack.Calls("conversations.history"));
    }

    [Fact]
    public async Task Outages_are_transient_and_refusals_permanent()
    {
        _slack.AddChannel("C0GENERAL", "general");
        _slack.FailNext("chat.postMessage", 1, FakeSlackFailure.ServerError);
        _slack.FailNext("chat.postMessage", 1, FakeSlackFailure.InternalError);
        _slack.FailNext("chat.postMessage", 1, FakeSlackFailure.Garbage);

        var e500 = await _client.PostMessageAsync(_token, "C0GENERAL", "x", null, "wr-1", Ct);
        var internalError = await _client.PostMessageAsync(_token, "C0GENERAL", "x", null, "wr-1", Ct);
        var garbage = await _client.PostMessageAsync(_token, "C0GENERAL", "x", null, "wr-1", Ct);
        var missing = await _client.PostMessageAsync(_token, "C0NOSUCH", "x", null, "wr-1", Ct);
        var dead = await new SlackClient(_http, new SlackOptions { BaseUrl = new Uri("http://127.0.0.1:9/api/") }).AuthTestAsync(_token, Ct);

        Assert.Equal(("http_500", SlackFailureKind.Transient), (e500.Error!.Code, e500.Error.Kind));
        Assert.Equal(("internal_error", SlackFailureKind.Transient), (internalError.Error!.Code, internalError.Error.Kind));
        Assert.Equal(("invalid_response", SlackFailureKind.Transient), (garbage.Error!.Code, garbage.Error.Kind));
        Assert.Equal(("channel_not_found", SlackFailureKind.Permanent), (missing.Error!.Code, missing.Error.Kind));
        Assert.Equal(("connection_failed", SlackFailureKind.Transient), (dead.Error!.Code, dead.Error.Kind));
        Assert.Empty(_slack.BotMessages());
    }

    // ---- adversarial: a hostile or misconfigured provider ----------------------------------------------------------------

    [Fact]
    public async Task A_redirect_is_never_followed_so_no_other_server_answers_for_slack()
    {
        await using var elsewhere = await FakeSlackServer.StartAsync(_slack.Token);
        _slack.RedirectLocation = elsewhere.BaseUrl + "auth.test";
        _slack.FailNext("auth.test", 1, FakeSlackFailure.Redirect);

        var r = await _client.AuthTestAsync(_token, Ct);

        Assert.Equal(("http_302", SlackFailureKind.Permanent), (r.Error!.Code, r.Error.Kind));
        Assert.Equal(0, elsewhere.TotalCalls);
    }

    [Fact]
    public async Task An_oversized_answer_is_refused_without_being_read_whole()
    {
        _slack.FailNext("users.list", 1, FakeSlackFailure.Huge);

        var r = await _client.ListUsersAsync(_token, null, 10, Ct);

        Assert.Equal(("response_too_large", SlackFailureKind.Transient), (r.Error!.Code, r.Error.Kind));
    }

    [Fact]
    public async Task Identifiers_a_provider_answers_with_are_checked_and_bad_items_skipped()
    {
        _slack.AddChannel("C0GOOD", "good");
        _slack.AddChannel("../../../etc", "traversal");
        _slack.AddChannel("C0BAD\n", "newline");
        _slack.AddUser("U0OK", "ok", "Ok");
        _slack.AddUser("U0/../x", "bad", "Bad");

        var channels = await _client.ListChannelsAsync(_token, null, 100, Ct);
        var users = await _client.ListUsersAsync(_token, null, 100, Ct);

        Assert.Equal(["C0GOOD"], channels.Value!.Items.Select(c => c.Id));
        Assert.Equal(["U0OK"], users.Value!.Items.Select(u => u.Id));
    }

    [Fact]
    public async Task Agent_supplied_identifiers_are_checked_before_any_call()
    {
        var badChannel = await _client.PostMessageAsync(_token, "C0X&channel=C0OTHER", "x", null, "wr-1", Ct);
        var badTs = await _client.DeleteMessageAsync(_token, "C0GENERAL", "1.2&ts=3", Ct);
        var badName = await _client.AddReactionAsync(_token, "C0GENERAL", "1712345678.000100", ":x:&name=y", Ct);

        Assert.All([badChannel.Error!, badTs.Error!, badName.Error!], e => Assert.Equal(SlackFailureKind.Permanent, e.Kind));
        Assert.Equal(0, _slack.TotalCalls);
    }
}
