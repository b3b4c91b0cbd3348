using System.Collections.Immutable;
using KruxOS.Core.Proxy;

namespace KruxOS.Proxy;

/// <summary>
/// What the operator gave to <c>kruxos connect &lt;service&gt;</c> (or the dashboard).
/// </summary>
/// <param name="Service">The service.</param>
/// <param name="Settings">Non-secret settings by name (<c>client_id</c>, <c>redirect_uri</c>, <c>dashboard_url</c>); the adapter validates them.</param>
/// <param name="Secret">A secret the operator typed or piped (a Slack bot token, an OAuth client secret), or empty. Only read; the
/// caller zeroes its buffer. Never in argv, logs or audit.</param>
public sealed record ConnectRequest(ServiceName Service, ImmutableDictionary<string, string> Settings, ReadOnlyMemory<byte> Secret);

/// <summary>The answer of <see cref="IServiceAdapter.ConnectAsync"/>.</summary>
public abstract record ConnectResult
{
    private ConnectResult() { }

    /// <summary>
    /// Verified: the machinery stores <see cref="Credential"/> under <c>service/&lt;service&gt;/oauth</c>, zeroes it, and
    /// (when <see cref="Account"/> differs from the replica's) purges the replica before the first sync.
    /// </summary>
    /// <param name="Account">The provider account (email address, Slack team and bot user) for status and the purge rule.</param>
    /// <param name="Credential">The bytes to store, in the adapter's format; owned by the result, zeroed by the machinery.</param>
    public sealed record Connected(string Account, byte[] Credential) : ConnectResult
    {
        /// <inheritdoc />
        public override string ToString() => $"Connected({Account}, credential {Credential.Length} bytes)";
    }

    /// <summary>The operator must open <see cref="AuthorizeUrl"/>; the provider's redirect completes it (<see cref="IServiceConnections.CompleteAsync"/>).</summary>
    /// <param name="AuthorizeUrl">The URL to open.</param>
    /// <param name="ExpiresAt">When the pending flow (state, PKCE verifier) expires.</param>
    public sealed record Pending(Uri AuthorizeUrl, DateTimeOffset ExpiresAt) : ConnectResult;

    /// <summary>Refused (bad token, provider unreachable, bad settings): <see cref="Reason"/> for the operator, never a secret.</summary>
    public sealed record Refused(string Reason) : ConnectResult;
}

/// <summary>The answer of <see cref="IServiceAdapter.VerifyAsync"/>.</summary>
/// <param name="Ok">The provider accepted the credential.</param>
/// <param name="Account">The account it belongs to, when known.</param>
/// <param name="Reason">Why not, when not ok.</param>
public sealed record ConnectionCheck(bool Ok, string? Account, string? Reason);

/// <summary>A provider call without a payload (revoke): ok, or why not.</summary>
public sealed record ProviderCallResult(bool Ok, string? Reason)
{
    /// <summary>Success.</summary>
    public static readonly ProviderCallResult Success = new(true, null);

    /// <summary>Failure.</summary>
    public static ProviderCallResult Failure(string reason) => new(false, reason);
}

/// <summary>
/// Connection orchestration for the parts that finish a connect outside the operator's command (the Gmail OAuth callback
/// on the dashboard). Implemented by the proxy area.
/// </summary>
public interface IServiceConnections
{
    /// <summary>
    /// Finishes a connect: stores the credential (audited), purges the replica when the account changed, records the
    /// account and starts the first sync. <paramref name="credential"/> is only read; the caller zeroes it.
    /// </summary>
    Task<CredentialChange> CompleteAsync(ServiceName service, string account, ReadOnlyMemory<byte> credential, CancellationToken cancellationToken);
}
