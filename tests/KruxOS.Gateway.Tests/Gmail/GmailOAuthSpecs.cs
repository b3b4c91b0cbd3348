using Xunit;
using KruxOS.Core.OAuth;
using KruxOS.Proxy;
using KruxOS.Proxy.Gmail;

namespace KruxOS.Gateway.Tests.Gmail;

/// <summary>
/// The Gmail OAuth connect and token lifecycle against the fake Google server: PKCE, single-use session-bound state,
/// scope checks, refresh before expiry, and a refused refresh flagging the credential.
/// </summary>
public sealed class GmailOAuthSpecs
{
    private static readonly string SessionA = OAuthFlows.BindingOf("session-a");
    private static readonly string SessionB = OAuthFlows.BindingOf("session-b");
    private static readonly CancellationToken Ct = TestContext.Current.CancellationToken;

    private static async Task<Uri> StartAsync(GmailRig rig, string session)
    {
        var connect = await rig.Adapter.ConnectAsync(new ConnectRequest(GmailTokens.Service,
            System.Collections.Immutable.ImmutableDictionary<string, string>.Empty.Add("dashboard_url", "https://127.0.0.1:7800"),
            System.Text.Encoding.UTF8.GetBytes(rig.Google.ClientSecret)), Ct);
        var pending = Assert.IsType<ConnectResult.Pending>(connect);
        Assert.Equal(GmailConnector.StartPath, pending.AuthorizeUrl.AbsolutePath);
        var ticket = System.Web.HttpUtility.ParseQueryString(pending.AuthorizeUrl.Query)["ticket"];
        var step = rig.Connector.Start(ticket, session);
        Assert.Equal(ConnectStepStatus.Ok, step.Status);
        // the ticket is single use
        Assert.Equal(ConnectStepStatus.Refused, rig.Connector.Start(ticket, session).Status);
        return step.Redirect!;
    }

    [Fact]
    public async Task Should_connect_through_pkce_and_store_the_tokens_only_through_the_credential_store()
    {
        await using var rig = await GmailRig.StartAsync();
        var authorize = await StartAsync(rig, SessionA);
        var q = System.Web.HttpUtility.ParseQueryString(authorize.Query);
        Assert.Equal("S256", q["code_challenge_method"]);
        Assert.Null(q["code_verifier"]); // the verifier never goes through the browser
        Assert.Equal(string.Join(' ', GmailOptions.Scopes), q["scope"]);
        Assert.Equal("https://127.0.0.1:7800/api/oauth/gmail/callback", q["redirect_uri"]);

        var (code, state) = await rig.AuthorizeAsync(authorize);
        var done = await rig.Connector.FinishAsync(state, code, null, SessionA, Ct);

        Assert.Equal(ConnectStepStatus.Ok, done.Status);
        Assert.Equal(rig.Google.Account, done.Account);
        Assert.Equal([rig.Google.Account], rig.Credentials.Completed);
        var stored = rig.Credentials.Current!;
        Assert.Equal(rig.Google.ClientSecret, stored.ClientSecret);
        Assert.False(string.IsNullOrEmpty(stored.RefreshToken));
        Assert.DoesNotContain(stored.AccessToken, done.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(stored.AccessToken, stored.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_have_the_fake_refuse_a_code_exchanged_with_a_wrong_verifier()
    {
        await using var rig = await GmailRig.StartAsync();
        var verifier = Pkce.NewVerifier();
        var url = AuthorizationRequest.Build(rig.Google.AuthorizeEndpoint, rig.Google.ClientId, new Uri("https://127.0.0.1:7800/api/oauth/gmail/callback"),
            GmailOptions.Scopes, "st", Pkce.ChallengeFor(verifier));
        var (code, _) = await rig.AuthorizeAsync(url);

        var wrong = await rig.OAuth.ExchangeCodeAsync(code, Pkce.NewVerifier(), new Uri("https://127.0.0.1:7800/api/oauth/gmail/callback"), rig.Google.ClientId, rig.Google.ClientSecret, Ct);

        Assert.False(wrong.Ok);
        Assert.Equal(GoogleStatus.Permanent, wrong.Status);
        Assert.Contains("invalid_grant", wrong.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_a_replayed_state_without_a_second_token_request()
    {
        await using var rig = await GmailRig.StartAsync();
        var (code, state) = await rig.AuthorizeAsync(await StartAsync(rig, SessionA));
        Assert.Equal(ConnectStepStatus.Ok, (await rig.Connector.FinishAsync(state, code, null, SessionA, Ct)).Status);
        var tokenCalls = rig.Google.Calls("oauth.token");

        var replay = await rig.Connector.FinishAsync(state, code, null, SessionA, Ct);

        Assert.Equal(ConnectStepStatus.Refused, replay.Status);
        Assert.Equal(tokenCalls, rig.Google.Calls("oauth.token"));
        Assert.Single(rig.Credentials.Completed);
    }

    [Fact]
    public async Task Should_refuse_a_callback_in_another_dashboard_session_and_burn_the_state()
    {
        await using var rig = await GmailRig.StartAsync();
        var (code, state) = await rig.AuthorizeAsync(await StartAsync(rig, SessionA));

        var forged = await rig.Connector.FinishAsync(state, code, null, SessionB, Ct);
        var late = await rig.Connector.FinishAsync(state, code, null, SessionA, Ct);

        Assert.Equal(ConnectStepStatus.Refused, forged.Status);
        Assert.Contains("another dashboard session", forged.Message, StringComparison.Ordinal);
        Assert.Equal(ConnectStepStatus.Refused, late.Status);
        Assert.Equal(0, rig.Google.Calls("oauth.token"));
        Assert.Null(rig.Credentials.Current);
    }

    [Fact]
    public async Task Should_refuse_and_revoke_a_grant_that_lacks_a_scope()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Google.GrantedScopeOverride = GmailOptions.Scopes[0];
        var (code, state) = await rig.AuthorizeAsync(await StartAsync(rig, SessionA));

        var step = await rig.Connector.FinishAsync(state, code, null, SessionA, Ct);

        Assert.Equal(ConnectStepStatus.Failed, step.Status);
        Assert.Contains("gmail.send", step.Message, StringComparison.Ordinal);
        Assert.Single(rig.Google.Revoked);
        Assert.Null(rig.Credentials.Current);
    }

    [Fact]
    public async Task Should_report_a_denied_consent_without_a_token_request()
    {
        await using var rig = await GmailRig.StartAsync();
        var (_, state) = await rig.AuthorizeAsync(await StartAsync(rig, SessionA));
        var step = await rig.Connector.FinishAsync(state, null, "access_denied\r\n<script>", SessionA, Ct);
        Assert.Equal(ConnectStepStatus.Failed, step.Status);
        Assert.DoesNotContain("<script>", step.Message, StringComparison.Ordinal);
        Assert.Equal(0, rig.Google.Calls("oauth.token"));
    }

    [Fact]
    public async Task Should_refresh_a_token_expiring_within_five_minutes_and_keep_the_refresh_token()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect(expiresAt: DateTimeOffset.UtcNow.AddMinutes(4));
        var before = rig.Credentials.Current!;

        var refreshed = await rig.Tokens.RefreshIfDueAsync(Ct);

        Assert.True(refreshed!.Ok);
        var after = rig.Credentials.Current!;
        Assert.NotEqual(before.AccessToken, after.AccessToken);
        Assert.Equal(before.RefreshToken, after.RefreshToken);
        Assert.True(after.ExpiresAt > DateTimeOffset.UtcNow.AddMinutes(50));
        Assert.Equal(["refreshed"], rig.Credentials.Stores);
        Assert.Contains(rig.Credentials.Uses, u => u.Purpose == "refresh" && u.Host == "127.0.0.1");
        // not due any more: the next check does nothing
        Assert.Null(await rig.Tokens.RefreshIfDueAsync(Ct));
        Assert.Equal(1, rig.Google.Calls("oauth.token"));
    }

    [Fact]
    public async Task Should_not_refresh_a_token_with_more_than_five_minutes_left()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect(expiresAt: DateTimeOffset.UtcNow.AddMinutes(30));
        Assert.Null(await rig.Tokens.RefreshIfDueAsync(Ct));
        Assert.Equal(0, rig.Google.Calls("oauth.token"));
    }

    [Fact]
    public async Task Should_flag_the_credential_when_the_refresh_is_refused()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect(expiresAt: DateTimeOffset.UtcNow.AddMinutes(1));
        rig.Google.RefreshFails = true;

        var refreshed = await rig.Tokens.RefreshIfDueAsync(Ct);

        Assert.False(refreshed!.Ok);
        var flag = Assert.Single(rig.Credentials.Flags);
        Assert.Contains("refresh refused", flag, StringComparison.Ordinal);
        Assert.DoesNotContain(rig.Credentials.Current!.RefreshToken, flag, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_not_flag_on_a_transient_token_endpoint_failure()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect(expiresAt: DateTimeOffset.UtcNow.AddMinutes(1));
        rig.Google.FailNext("oauth.token", 1, 503);

        var refreshed = await rig.Tokens.RefreshIfDueAsync(Ct);

        Assert.False(refreshed!.Ok);
        Assert.Empty(rig.Credentials.Flags);
        Assert.True((await rig.Tokens.RefreshIfDueAsync(Ct))!.Ok);
    }

    [Fact]
    public async Task Should_refresh_once_and_retry_when_the_api_rejects_a_believed_valid_token()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        rig.Google.ExpireAccessTokens();

        var check = await rig.Adapter.VerifyAsync(Ct);

        Assert.True(check.Ok, check.Reason);
        Assert.Equal(rig.Google.Account, check.Account);
        Assert.Equal(1, rig.Google.Calls("oauth.token"));
        Assert.Equal(2, rig.Google.Calls("gmail.users.getProfile"));
    }

    [Fact]
    public async Task Should_revoke_the_refresh_token_at_the_provider()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var refresh = rig.Credentials.Current!.RefreshToken;

        var revoked = await rig.Adapter.RevokeAsync(Ct);

        Assert.True(revoked.Ok, revoked.Reason);
        Assert.Equal([refresh], rig.Google.Revoked);
        Assert.False((await rig.Adapter.VerifyAsync(Ct)).Ok);
    }
}
