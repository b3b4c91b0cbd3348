using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Proxy;

namespace KruxOS.Proxy;

/// <summary>
/// What the proxied capability modules (<c>email.*</c>, <c>slack.*</c>) call from their handlers. Implemented by the proxy
/// area (<c>KruxOS.Actors/Proxy</c>). A handler validates its arguments (declared errors such as <c>MissingParameter</c>,
/// <c>NoLabelsProvided</c>, <c>MessageNotFound</c> against the replica), then:
/// <list type="bullet">
/// <item>a buffered write: <c>return (await proxy.SubmitAsync(context, arguments, ct)).ToOutput();</c></item>
/// <item>an immediate write: <see cref="ExecuteNowAsync"/> and map a failure to the capability's <c>WriteFailed</c>;</item>
/// <item>a read: <see cref="Replica"/> and query the adapter's own tables (0 provider calls).</item>
/// </list>
/// Batch protection is not the handler's job: the decide stage has already escalated a write beyond its threshold.
/// </summary>
public interface IServiceProxy
{
    /// <summary>The adapter serving <paramref name="service"/>, or null when none is registered.</summary>
    IServiceAdapter? Adapter(ServiceName service);

    /// <summary>The replica of <paramref name="service"/>.</summary>
    ServiceReplica Replica(ServiceName service);

    /// <summary>The credential's state (connected or not) — e.g. to answer <c>ServiceUnavailable</c> before a write is buffered.</summary>
    CredentialStatus Connection(ServiceName service);

    /// <summary>
    /// Buffers the call's write (<c>context.Capability</c> must be a buffered operation of a registered service): a
    /// persistent write entity is created, a <c>write_buffered</c> event is published, and the receipt returned after the
    /// entity persisted it. Throws <see cref="CapabilityException"/> (<c>ServiceUnavailable</c>: not connected, or the
    /// entity did not answer) — nothing is buffered then.
    /// </summary>
    Task<WriteReceipt> SubmitAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken);

    /// <summary>
    /// Executes an immediate operation now through the adapter (no window, no entity) and returns its outcome; the call's
    /// own audit entry records it. Throws <see cref="CapabilityException"/> (<c>ServiceUnavailable</c>) when not connected.
    /// </summary>
    Task<WriteOutcome> ExecuteNowAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken);
}
