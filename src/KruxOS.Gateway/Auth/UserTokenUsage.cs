using System.Collections.Concurrent;

namespace KruxOS.Gateway.Auth;

/// <summary>
/// When each user token last authenticated on this node (directly, or through a credential minted for it),
/// for <c>kruxos user-token list</c>. Kept in memory only: the identity registry is event-sourced, and an event
/// per use would grow the journal with every request. So it starts empty at every start, and in a cluster each
/// node reports the uses it saw.
/// </summary>
public sealed class UserTokenUsage(TimeProvider clock) : KruxOS.Actors.Identity.IUserTokenUsage
{
    private readonly ConcurrentDictionary<string, DateTimeOffset> _lastUsed = new(StringComparer.Ordinal);

    /// <summary>Records a successful authentication with the token.</summary>
    public void Used(string userTokenId) => _lastUsed[userTokenId] = clock.GetUtcNow();

    /// <summary>The last use this node saw since it started, if any.</summary>
    public DateTimeOffset? LastUsed(string userTokenId) => _lastUsed.TryGetValue(userTokenId, out var at) ? at : null;
}
