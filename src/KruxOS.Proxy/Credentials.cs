using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Proxy;
using KruxOS.Vault;

namespace KruxOS.Proxy;

/// <summary>
/// One use of a service's credential by the gateway itself. Every use is decided by the vault (the entry's
/// <c>allowed_capabilities</c> and <c>allowed_hosts</c>) and audited as a <c>secrets.use</c> entry naming the service, the
/// purpose, the host and — when the use serves an agent's call or write — that agent and session. Never the value.
/// </summary>
/// <param name="Service">Whose credential (<c>service/&lt;service&gt;/oauth</c>).</param>
/// <param name="Host">The host the value will be sent to; must be one of the adapter's <see cref="IServiceAdapter.CredentialHosts"/>.</param>
/// <param name="Purpose">Why, for the audit: <c>execute</c>, <c>sync</c>, <c>verify</c>, <c>revoke</c>, <c>refresh</c>, <c>read</c>.</param>
/// <param name="Capability">The capability being served (<c>email.send</c> for a write, <c>email.read</c> for a body fetch); null for the
/// service's own work (sync, verify, refresh, revoke), which is decided and audited as <c>proxy.&lt;service&gt;</c>.</param>
/// <param name="Agent">The agent served, or null for the service's own work.</param>
/// <param name="SessionId">The agent's session, or null.</param>
/// <param name="WriteId">The write being executed, or null.</param>
public sealed record CredentialUse(ServiceName Service, string Host, string Purpose, CapabilityName? Capability = null, AgentName? Agent = null,
    string? SessionId = null, WriteId? WriteId = null)
{
    /// <summary>A use while executing <paramref name="write"/>.</summary>
    public static CredentialUse ForWrite(WriteExecution write, string host) =>
        new(write.Service, host, "execute", write.Operation, write.Agent, write.SessionId, write.Id);
}

/// <summary>
/// An opened credential for one request: <see cref="Use{TState, TResult}"/> lends the bytes (the adapter's own format:
/// a bot token, a JSON token set) to a callback, e.g. to build an <c>Authorization</c> header. Dispose it when the request
/// is done; that zeroes the value. Refused: <see cref="Error"/> says why (<c>VaultLocked</c>, not connected).
/// </summary>
public sealed class CredentialLease : IDisposable
{
    private readonly SecretValue? _value;

    /// <summary>A granted lease over <paramref name="value"/> (taken over: disposing the lease zeroes it).</summary>
    public CredentialLease(SecretValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        _value = value;
    }

    /// <summary>A refused lease.</summary>
    public CredentialLease(StructuredError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        Error = error;
    }

    /// <summary>True when the value may be used.</summary>
    public bool Granted => _value is not null;

    /// <summary>Why not, when refused.</summary>
    public StructuredError? Error { get; }

    /// <summary>Lends the bytes to <paramref name="use"/>; throws <see cref="InvalidOperationException"/> on a refused lease.</summary>
    public TResult Use<TState, TResult>(TState state, SecretFunc<TState, TResult> use) =>
        (_value ?? throw new InvalidOperationException("the credential was refused: " + Error?.ErrorType)).Use(state, use);

    /// <summary>Zeroes the value.</summary>
    public void Dispose() => _value?.Dispose();

    /// <inheritdoc />
    public override string ToString() => Granted ? "CredentialLease(granted)" : $"CredentialLease(refused: {Error!.ErrorType})";
}

/// <summary>What is in force for a service's credential on this node.</summary>
public enum CredentialState
{
    /// <summary>No entry (never connected, or the vault is not initialised).</summary>
    Absent,
    /// <summary>Stored and usable (vault unlocked).</summary>
    Live,
    /// <summary>Stored, flagged: a refresh failed or the provider refused it.</summary>
    NeedsAttention,
    /// <summary>Stored, but this node's vault is locked.</summary>
    Locked,
    /// <summary>Revoked (disconnected).</summary>
    Revoked,
}

/// <summary>A credential's status: state, version, when it last changed, and the attention reason if flagged. Never the value.</summary>
public sealed record CredentialStatus(ServiceName Service, CredentialState State, int Version, DateTimeOffset? UpdatedAt, string? Attention);

/// <summary>The outcome of a credential change: ok, or the refusal (vault locked, not initialised, invalid value).</summary>
public sealed record CredentialChange(bool Ok, string Message)
{
    /// <summary>Success.</summary>
    public static CredentialChange Done(string message) => new(true, message);

    /// <summary>Refusal.</summary>
    public static CredentialChange Refused(string message) => new(false, message);
}

/// <summary>
/// The gateway's own access to the managed vault entries <c>service/&lt;service&gt;/oauth</c> (no agent involved): the
/// service-side counterpart of <see cref="ISecretAccess"/>. Opening is decided by the vault and audited (fails closed
/// when the audit log does not take the entry); storing seals the value on this node and scopes it to the adapter's
/// categories and <see cref="IServiceAdapter.CredentialHosts"/>; flagging marks it as needing attention and raises a
/// <c>proxy</c> system alert. Values are never logged, returned or kept. Not for use inside actors (it awaits the vault
/// and the audit writer); actors pipe it.
/// </summary>
public interface IServiceCredentials
{
    /// <summary>Opens the credential for one use. Never throws for a refusal: the lease carries the error.</summary>
    Task<CredentialLease> OpenAsync(CredentialUse use, CancellationToken cancellationToken);

    /// <summary>
    /// Stores (connect) or replaces (refresh) the credential. <paramref name="value"/> is only read; the caller zeroes its
    /// buffer. <paramref name="reason"/> (<c>connected</c>, <c>refreshed</c>) goes to the audit.
    /// </summary>
    Task<CredentialChange> StoreAsync(ServiceName service, ReadOnlyMemory<byte> value, string reason, CancellationToken cancellationToken);

    /// <summary>Marks the credential as needing attention (a refresh failed) and raises a critical <c>proxy</c> alert.</summary>
    Task<CredentialChange> FlagAsync(ServiceName service, string reason, CancellationToken cancellationToken);

    /// <summary>Revokes the vault entry (disconnect); it can never be used again until a new connect stores a new version.</summary>
    Task<CredentialChange> RemoveAsync(ServiceName service, string reason, CancellationToken cancellationToken);

    /// <summary>The credential's status on this node.</summary>
    CredentialStatus Status(ServiceName service);
}
