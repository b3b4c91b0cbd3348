using System.Text.Json;
using KruxOS.Actors.Proxy;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Proxy;

namespace KruxOS.Actors.Capabilities.ProxyCategory;

/// <summary>The <c>proxy.*</c> capabilities: the Service Proxy's own (ADR 0055).</summary>
public sealed class ProxyModule() : CapabilityModule("proxy", "proxy");

/// <summary>
/// <c>proxy.cancel_write</c>: an agent cancels one of its own buffered writes while its window is open. A write of another
/// agent is answered exactly like an unknown id (<c>WriteNotFound</c>), and no entity is started for an id the node's index
/// does not know, so guessing ids costs nothing and reveals nothing.
/// </summary>
[Capability("proxy.cancel_write")]
public sealed class ProxyCancelWriteHandler(ServiceProxy proxy, WriteIndex index) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var text = arguments.TryGetProperty("write_id", out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? string.Empty : string.Empty;
        if (!WriteId.TryParse(text, out var id, out _)) throw new CapabilityException(ProxyErrors.WriteNotFound(text));
        if (!index.IsReady) throw new CapabilityException(Errors.ServiceUnavailable("proxy", "the write buffer is still loading after a restart; retry shortly"));
        var agent = context.Session.Agent;
        if (index.Get(id) is not { } known || known.Agent != agent) throw new CapabilityException(ProxyErrors.WriteNotFound(text));
        var result = await proxy.CancelOwnAsync(agent, id, cancellationToken).ConfigureAwait(false);
        return result.Code switch
        {
            WriteResultCode.Ok => CapabilityCatalog.ToElement(new { write_id = id.Value, status = "cancelled" }),
            WriteResultCode.Conflict => throw new CapabilityException(ProxyErrors.WriteNotCancellable(id, result.State.Status.ToWire())),
            _ => throw new CapabilityException(ProxyErrors.WriteNotFound(text)),
        };
    }
}
