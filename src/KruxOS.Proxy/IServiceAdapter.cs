using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;

namespace KruxOS.Proxy;

/// <summary>
/// One provider behind the Service Proxy (Gmail, Slack; a third provider is one more implementation). An adapter is a
/// stateless singleton that speaks the provider's API at a configurable base URL; the machinery decides when it is called:
/// <list type="bullet">
/// <item>connect / verify / revoke (operator commands; <see cref="ConnectAsync"/> may need a second step, e.g. an OAuth callback);</item>
/// <item>sync into the node-local replica it owns the schema of (<see cref="SyncAsync"/>, on the descriptor's interval);</item>
/// <item>buffered writes after their window: <see cref="CaptureRollbackAsync"/>, then <see cref="ExecuteAsync"/>; on a
/// retry after an attempt whose outcome was never recorded, <see cref="FindExecutedAsync"/> first, so a write never
/// reaches the provider twice;</item>
/// <item>immediate writes during the call (<see cref="ExecuteAsync"/>, no window).</item>
/// </list>
/// Every method reports provider failures as values, never by throwing (a throw is taken as a transient failure and
/// logged without its message). Credentials come from <see cref="IServiceCredentials"/>, opened per request, used in place
/// and disposed; nothing an adapter returns (reasons, references, results) may contain a credential.
/// </summary>
public interface IServiceAdapter
{
    /// <summary>The service, its operations (windows, rollbacks, batch limits) and its sync interval.</summary>
    AdapterDescriptor Descriptor { get; }

    /// <summary>
    /// The hosts this adapter sends the service's credential to (its configured base URLs' hosts). The vault entry
    /// <c>service/&lt;service&gt;/oauth</c> is stored with exactly these as <c>allowed_hosts</c>, so the credential cannot be
    /// resolved for any other destination.
    /// </summary>
    ImmutableArray<string> CredentialHosts { get; }

    /// <summary>
    /// Starts or completes a connection (<c>kruxos connect &lt;service&gt;</c>): checks what the operator gave (a bot token
    /// via <c>auth.test</c>; OAuth client settings) and answers <see cref="ConnectResult.Connected"/> with the credential
    /// to store, <see cref="ConnectResult.Pending"/> with the URL the operator must open (the provider redirects to a
    /// callback that ends with <see cref="IServiceConnections.CompleteAsync"/>), or <see cref="ConnectResult.Refused"/>.
    /// </summary>
    Task<ConnectResult> ConnectAsync(ConnectRequest request, CancellationToken cancellationToken);

    /// <summary>Checks the stored credential against the provider (Slack <c>auth.test</c>, a Gmail profile read).</summary>
    Task<ConnectionCheck> VerifyAsync(CancellationToken cancellationToken);

    /// <summary>Revokes the stored credential at the provider (disconnect). The machinery then revokes the vault entry.</summary>
    Task<ProviderCallResult> RevokeAsync(CancellationToken cancellationToken);

    /// <summary>
    /// One sync: initial when <see cref="SyncRequest.Cursor"/> is null, else incremental from it. Writes into
    /// <see cref="SyncRequest.Replica"/> (the adapter's own tables) with upserts, so a sync repeated after a crash is
    /// harmless; the machinery stores the returned cursor after the adapter returns.
    /// </summary>
    Task<SyncOutcome> SyncAsync(SyncRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// A one-line description of a write for operators (<c>to bob@example.com: "Quarterly report"</c>): recipients, channel,
    /// subject or the first words; never a body. At most 200 characters; the machinery cuts longer ones.
    /// </summary>
    string Describe(CapabilityName operation, JsonElement arguments);

    /// <summary>
    /// Records what is needed to undo the write before it executes (labels of a message about to be trashed; for
    /// <c>slack.send</c> the channel, completed by the provider reference after execution). Called once per execution
    /// attempt before <see cref="ExecuteAsync"/> for operations whose spec has a rollback.
    /// </summary>
    Task<RollbackCapture> CaptureRollbackAsync(WriteExecution write, CancellationToken cancellationToken);

    /// <summary>
    /// Sends the write to the provider with <see cref="WriteExecution.Marker"/> inside the request (a header, message
    /// metadata). Answers done with the provider's reference, a transient failure (retried with backoff) or a permanent one
    /// (dead letter at once).
    /// </summary>
    Task<WriteOutcome> ExecuteAsync(WriteExecution write, CancellationToken cancellationToken);

    /// <summary>
    /// Whether the provider already holds the result of this write (a record carrying <see cref="WriteExecution.Marker"/>,
    /// searched where only the connected account can have put it: sent mail, the bot's own messages). Called before
    /// re-executing a write whose earlier attempt may have reached the provider.
    /// </summary>
    Task<ExecutedLookup> FindExecutedAsync(WriteExecution write, CancellationToken cancellationToken);

    /// <summary>Applies a rollback point left by an executed write (untrash, reverse labels, <c>chat.delete</c>, <c>reactions.remove</c>).</summary>
    Task<WriteOutcome> ApplyRollbackAsync(RollbackPoint point, WriteExecution write, CancellationToken cancellationToken);
}
