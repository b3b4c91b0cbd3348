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
}
