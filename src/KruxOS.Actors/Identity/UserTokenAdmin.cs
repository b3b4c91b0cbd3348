using KruxOS.Actors.Admin;
using KruxOS.Core.Admin;
using KruxOS.Core.Identity;

namespace KruxOS.Actors.Identity;

/// <summary>When each user token was last used on this node (the gateway's authenticator records it).</summary>
public interface IUserTokenUsage
{
    /// <summary>The last use this node saw since it started, if any.</summary>
    DateTimeOffset? LastUsed(string userTokenId);
}

/// <summary>A user token as the admin surfaces show it; <paramref name="LastUsedAt"/> is null when unused on this node since it started.</summary>
public sealed record TokenView(UserTokenRecord Token, DateTimeOffset? LastUsedAt);

/// <summary>A user token with its secret, shown exactly once.</summary>
public sealed record TokenIssued(TokenView Token, string Secret);

/// <summary>User-token administration for every adapter. The secret is generated here and handed to the registry only as a hash.</summary>
public sealed class UserTokenAdmin(IdentityAdminCalls identity, IdentityDirectory directory, TimeProvider clock, IUserTokenUsage? usage = null)
{
    /// <summary>Every user token, oldest first.</summary>
    public IReadOnlyList<TokenView> List() => [.. directory.Current.UserTokens.Values.OrderBy(t => t.CreatedAt).Select(View)];

    /// <summary>Creates a token with <paramref name="role"/> (a client token unless said otherwise: the safe default).</summary>
    public Task<AdminResult<TokenIssued>> CreateAsync(string label, CredentialRole role, CancellationToken ct) => AdminCalls.Guarded<TokenIssued>(async () =>
    {
        var secret = TokenHashing.NewUserToken();
        var result = await identity.AskAsync(new IdentityCommands.CreateUserToken(Guid.NewGuid().ToString(), label, TokenHashing.Hash(secret), clock.GetUtcNow(), role), ct)
            .ConfigureAwait(false);
        if (!result.IsOk) return AdminErrors.FromIdentity(result.Code, result.Message);
        return new TokenIssued(View(result.UserToken!), secret);
    });

    /// <summary>Revokes a token by id.</summary>
    public Task<AdminResult<TokenView>> RevokeAsync(string id, CancellationToken ct) => AdminCalls.Guarded<TokenView>(async () =>
    {
        var result = await identity.AskAsync(new IdentityCommands.RevokeUserToken(id, clock.GetUtcNow()), ct).ConfigureAwait(false);
        if (!result.IsOk) return AdminErrors.FromIdentity(result.Code, result.Message);
        return View(result.UserToken!);
    });

    private TokenView View(UserTokenRecord token) => new(token, usage?.LastUsed(token.Id));
}
