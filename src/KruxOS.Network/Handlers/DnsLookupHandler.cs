using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;

namespace KruxOS.Network.Handlers;

/// <summary>
/// <c>network.dns_lookup</c>: the addresses of a name the egress policy allows. A name no layer allows is never sent to
/// the resolver (no data leaves through DNS queries for refused names).
/// </summary>
[Capability("network.dns_lookup")]
public sealed class DnsLookupHandler(EgressClient client) : ICapabilityHandler
{
    /// <inheritdoc />
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var given = RequestInputs.Str(arguments, "hostname") ?? string.Empty;
        if (given.Contains('/')) throw RequestInputs.Invalid("hostname", "give a host name only, without scheme, port or path");
        if (!HostNames.TryNormalize(given, out var host, out var kind, out var error)) throw RequestInputs.Invalid("hostname", error);
        if (kind != HostKind.Dns) throw RequestInputs.Invalid("hostname", "is an address, not a name");
        if (EgressPolicy.CheckLookup(host, context.Policy.Egress(context.Principal)) is { } refused)
            throw new CapabilityException(NetworkErrors.DomainNotAllowed(host, refused));

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(client.Options.ResolveTimeout);
        IReadOnlyList<System.Net.IPAddress> addresses;
        try { addresses = await client.Resolver.ResolveAsync(host, deadline.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { addresses = []; }
        if (addresses.Count == 0)
            throw new CapabilityException(StructuredError.Create("DnsResolutionFailed", $"'{host}' did not resolve to any address.", retryable: true)
                .WithRecovery("check_name", "Check the spelling of the name.").WithContext("hostname", host));
        return CapabilityCatalog.ToElement(new { hostname = host, addresses = addresses.Select(a => a.ToString()).Distinct().ToArray() });
    }
}
