using Xunit;
using KruxOS.Actors.Identity;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Auth;
using static KruxOS.Core.Identity.IdentityCommands;

namespace KruxOS.Gateway.Tests.Auth;

/// <summary>The minted credential as the Authenticator sees it: lifetime, revocation of its user token, and where it is accepted.</summary>
public sealed class SessionCredentialSpecs
{
    private sealed class ManualClock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    private static (Authenticator Auth, SessionCredentialStore Store, IdentityDirectory Directory, ManualClock Clock) Build()
    {
        var clock = new ManualClock(T0);
        var directory = new IdentityDirectory();
        var (_, events) = IdentityState.Empty.ProcessCommand(new CreateUserToken("u-1", "claude-code", TokenHashing.Hash("krx_user_abcdefghijklmnopqrstuvwxyz"), T0));
        directory.Publish(events.Aggregate(IdentityState.Empty, (s, e) => s.Apply(e)));
        var store = new SessionCredentialStore(clock);
        return (new Authenticator(directory, store, clock), store, directory, clock);
    }

    [Fact]
    public void Should_accept_a_minted_credential_as_the_user_principal_until_it_expires()
    {
        var (auth, store, _, clock) = Build();
        var (token, expires) = store.Mint("u-1", TimeSpan.FromMinutes(5));
        Assert.Equal(T0.AddMinutes(5), expires);

        var ok = auth.Resolve(token, null, AuthSurface.Calls);
        Assert.True(ok.Succeeded);
        Assert.Equal("u-1", ok.Caller!.UserTokenId);
        Assert.Equal(KruxOS.Core.Agents.Principal.ForUser("claude-code"), ok.Caller.Principal);
        Assert.True(ok.Caller.Minted);
        Assert.Equal(CredentialRole.Client, ok.Caller.Role);

        clock.Now = T0.AddMinutes(5);
        var late = auth.Resolve(token, null, AuthSurface.Calls);
        Assert.Equal("auth.invalid_credentials", late.Error!.ErrorType);
    }

    [Fact]
    public void Should_refuse_a_minted_credential_once_its_user_token_is_revoked()
    {
        var (auth, store, directory, _) = Build();
        var (token, _) = store.Mint("u-1", TimeSpan.FromMinutes(5));
        var (_, events) = directory.Current.ProcessCommand(new RevokeUserToken("u-1", T0));
        directory.Publish(events.Aggregate(directory.Current, (s, e) => s.Apply(e)));
        Assert.Equal("auth.user_token_revoked", auth.Resolve(token, null, AuthSurface.Calls).Error!.ErrorType);
    }

    [Fact]
    public void Should_refuse_a_minted_credential_as_an_agent_or_when_unknown()
    {
        var (auth, store, _, _) = Build();
        var (token, _) = store.Mint("u-1", TimeSpan.FromMinutes(5));
        Assert.False(auth.Resolve(token, "builder", AuthSurface.Calls).Succeeded);
        Assert.False(auth.Resolve(TokenHashing.NewSessionToken(), null, AuthSurface.Calls).Succeeded);
    }

    [Fact]
    public void Should_give_a_credential_minted_for_an_operator_token_only_the_client_role()
    {
        // The auth socket never mints for an operator token; should one ever stand for it, it is still a client credential.
        var clock = new ManualClock(T0);
        var directory = new IdentityDirectory();
        var (_, events) = IdentityState.Empty.ProcessCommand(new CreateUserToken("u-op", "ops", TokenHashing.Hash("krx_user_operatoroperatoroperator"), T0, CredentialRole.Operator));
        directory.Publish(events.Aggregate(IdentityState.Empty, (s, e) => s.Apply(e)));
        var store = new SessionCredentialStore(clock);
        var auth = new Authenticator(directory, store, clock);
        var (token, _) = store.Mint("u-op", TimeSpan.FromMinutes(5));

        var ok = auth.Resolve(token, null, AuthSurface.UserApi);

        Assert.True(ok.Succeeded);
        Assert.Equal(CredentialRole.Client, ok.Caller!.Role);
    }

    [Fact]
    public void Should_forget_expired_credentials_when_the_next_one_is_minted()
    {
        var (_, store, _, clock) = Build();
        store.Mint("u-1", TimeSpan.FromMinutes(1));
        clock.Now = T0.AddMinutes(2);
        store.Mint("u-1", TimeSpan.FromMinutes(1));
        Assert.Equal(1, store.Count);
    }
}
