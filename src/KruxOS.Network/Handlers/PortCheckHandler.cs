using System.Diagnostics;
using System.Net.Sockets;
using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;

namespace KruxOS.Network.Handlers;

/// <summary>
/// <c>network.port_check</c>: whether a TCP port accepts connections, on a destination the egress policy allows (the
/// same decision as a request: the name, its addresses, and the connection to the checked address). A rule without a
/// port allows the scheme default ports, so ports 80 and 443 only.
/// </summary>
[Capability("network.port_check")]
public sealed class PortCheckHandler(EgressClient client) : ICapabilityHandler
{
    /// <inheritdoc />
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var given = RequestInputs.Str(arguments, "host") ?? string.Empty;
        var port = arguments.TryGetProperty("port", out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetInt64(out var n) ? n : -1;
        if (port is < 1 or > 65535)
            throw new CapabilityException(StructuredError.Create("InvalidPort", $"Invalid port {port}: use a port from 1 to 65535.")
                .WithRecovery("fix_input", "Give a port from 1 to 65535.").WithContext("port", port));
        if (!HostNames.TryNormalize(given, out var host, out var kind, out var error)) throw RequestInputs.Invalid("host", error);
        var scheme = port == 80 ? "http" : "https";
        var uriHost = kind == HostKind.IPv6 ? "[" + host + "]" : host;
        if (!EgressPolicy.TryParseTarget($"{scheme}://{uriHost}:{port}/", out var target, out var invalid))
            throw RequestInputs.Invalid("host", invalid.Reason);
        var timeout = TimeSpan.FromSeconds(RequestInputs.Seconds(arguments, "timeout", 5));

        var decision = await client.DecideAsync(target, context.Policy.Egress(context.Principal), cancellationToken).ConfigureAwait(false);
        if (!decision.Allowed)
            throw new CapabilityException(decision.Refusal == EgressRefusal.NoAddress
                ? StructuredError.Create("ConnectionFailed", $"'{host}' did not resolve to any address.", retryable: true)
                    .WithRecovery("check_name", "Check the host name.", "network.dns_lookup").WithContext("host", host)
                : decision.ToError());

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        using var socket = new Socket(decision.ConnectTo!.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        var clock = Stopwatch.StartNew();
        long? latency = null;
        try
        {
            await socket.ConnectAsync(decision.ConnectTo, deadline.Token).ConfigureAwait(false);
            latency = clock.ElapsedMilliseconds;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { }
        catch (SocketException) { }
        return CapabilityCatalog.ToElement(new { open = latency is not null, latency_ms = latency, host, port });
    }

    /// <inheritdoc />
    public TimeSpan MaxDuration(JsonElement arguments) => RequestInputs.Deadline(RequestInputs.Seconds(arguments, "timeout", 5));
}
