using KruxOS.Actors.Identity;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Auth;
using Microsoft.AspNetCore.Http;
using Xunit;

namespace KruxOS.Gateway.Tests.Auth;

/// <summary>How the gateway answers a credential it cannot judge yet, and one it can.</summary>
public sealed class AuthenticatorSpecs
{
    [Fact]
    public void Should_answer_retryable_503_not_401_while_the_identities_are_still_recovering()
    {
        var token = TokenHashing.NewAgentToken();
        var identities = new IdentityDirectory();
        var auth = new Authenticator(identities, new SessionCredentialStore(TimeProvider.System), TimeProvider.System);

        // arrange-act: before the first identity state is published
        var early = auth.Resolve(token, "builder", AuthSurface.Calls);

        // assert: not yet, never "refused" (a reconnecting client keeps trying)
        Assert.False(early.Succeeded);
        Assert.Equal(StatusCodes.Status503ServiceUnavailable, early.StatusCode);
        Assert.Equal("ServiceUnavailable", early.Error!.ErrorType);
        Assert.True(early.Error.Retryable);

        // act: the identities arrive
        var (_, events) = IdentityState.Empty.ProcessCommand(new IdentityCommands.CreateAgent("builder", "spec", TokenHashing.Hash(token), DateTimeOffset.UtcNow));
        identities.Publish(events.Aggregate(IdentityState.Empty, (s, e) => s.Apply(e)));

        // assert: the same token is accepted, and an unknown one is refused with 401
        Assert.True(auth.Resolve(token, "builder", AuthSurface.Calls).Succeeded);
        Assert.Equal(StatusCodes.Status401Unauthorized, auth.Resolve(TokenHashing.NewAgentToken(), null, AuthSurface.Calls).StatusCode);
    }

    [Fact]
    public void Should_refuse_a_missing_or_malformed_token_at_once_even_while_recovering()
    {
        var auth = new Authenticator(new IdentityDirectory(), new SessionCredentialStore(TimeProvider.System), TimeProvider.System);
        Assert.Equal(StatusCodes.Status401Unauthorized, auth.Resolve(null, null, AuthSurface.Calls).StatusCode);
        Assert.Equal(StatusCodes.Status401Unauthorized, auth.Resolve("not-a-token", null, AuthSurface.Calls).StatusCode);
    }

    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static HttpContext Request(string token, string address = "127.0.0.1")
    {
        var http = new DefaultHttpContext();
        http.Connection.RemoteIpAddress = System.Net.IPAddress.Parse(address);
        http.Request.Headers.Authorization = "Bearer " + token;
        return http;
    }

    [Fact]
    public void Should_limit_only_failures_per_address_and_never_a_valid_credential()
    {
        // arrange
        var t0 = new DateTimeOffset(2026, 12, 5, 9, 0, 0, TimeSpan.Zero);
        var clock = new ManualClock(t0);
        var agent = TokenHashing.NewAgentToken();
        var user = TokenHashing.NewUserToken();
        var identities = new IdentityDirectory();
        var state = IdentityState.Empty;
        foreach (var c in new IIdentityCommand[]
                 {
                     new IdentityCommands.CreateAgent("builder", "spec", TokenHashing.Hash(agent), t0),
                     new IdentityCommands.CreateUserToken("u-1", "laptop", TokenHashing.Hash(user), t0),
                 })
            state = state.ProcessCommand(c).Events.Aggregate(state, (s, e) => s.Apply(e));
        identities.Publish(state);
        var auth = new Authenticator(identities, new SessionCredentialStore(clock), clock);

        // act: N failures are 401, every further failure in the minute is 429 with the time left
        var answers = Enumerable.Range(0, Core.Errors.Errors.AuthFailuresPerMinute + 5)
            .Select(_ => auth.Authenticate(Request(TokenHashing.NewAgentToken()), AuthSurface.Calls)).ToList();

        // assert
        Assert.All(answers.Take(Core.Errors.Errors.AuthFailuresPerMinute), a => Assert.Equal(StatusCodes.Status401Unauthorized, a.StatusCode));
        Assert.All(answers.Skip(Core.Errors.Errors.AuthFailuresPerMinute), a =>
        {
            Assert.Equal(StatusCodes.Status429TooManyRequests, a.StatusCode);
            Assert.Equal("auth.rate_limited", a.Error!.ErrorType);
            Assert.InRange(a.Error.RetryAfterSeconds!.Value, 1, 60);
        });
        Assert.True(auth.Authenticate(Request(agent), AuthSurface.Calls).Succeeded);
        Assert.True(auth.Authenticate(Request(user), AuthSurface.UserApi).Succeeded);
        // another address is not affected at all
        Assert.Equal(StatusCodes.Status401Unauthorized, auth.Authenticate(Request(TokenHashing.NewAgentToken(), "127.0.0.2"), AuthSurface.Calls).StatusCode);

        // a minute after the last failures the guesser gets plain 401s again
        clock.Now = t0.AddSeconds(61);
        Assert.Equal(StatusCodes.Status401Unauthorized, auth.Authenticate(Request(TokenHashing.NewAgentToken()), AuthSurface.Calls).StatusCode);
    }

    [Fact]
    public void Should_refuse_an_operator_token_on_call_surfaces_with_403_without_counting_a_failure()
    {
        var t0 = new DateTimeOffset(2026, 12, 5, 9, 0, 0, TimeSpan.Zero);
        var op = TokenHashing.NewUserToken();
        var identities = new IdentityDirectory();
        var (_, events) = IdentityState.Empty.ProcessCommand(new IdentityCommands.CreateUserToken("u-op", "ops", TokenHashing.Hash(op), t0, CredentialRole.Operator));
        identities.Publish(events.Aggregate(IdentityState.Empty, (s, e) => s.Apply(e)));
        var auth = new Authenticator(identities, new SessionCredentialStore(TimeProvider.System), TimeProvider.System);

        for (var i = 0; i < 2 * Core.Errors.Errors.AuthFailuresPerMinute; i++)
        {
            var refused = auth.Authenticate(Request(op), AuthSurface.Calls);
            Assert.Equal(StatusCodes.Status403Forbidden, refused.StatusCode);
            Assert.Equal("auth.role_forbidden", refused.Error!.ErrorType);
        }
        var userApi = auth.Authenticate(Request(op), AuthSurface.UserApi);
        Assert.True(userApi.Succeeded);
        Assert.Equal(CredentialRole.Operator, userApi.Caller!.Role);
    }
}
