using System.Text.Json;
using KruxOS.Capabilities;

namespace KruxOS.Network.Handlers;

/// <summary><c>network.http_request</c>: one request (and its redirects) to a destination the egress policy allows.</summary>
[Capability("network.http_request")]
public sealed class HttpRequestHandler(EgressClient client) : ICapabilityHandler, INativeToolCheck
{
    /// <inheritdoc />
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var target = RequestInputs.Target(arguments);
        var method = RequestInputs.Method(arguments, allowOptions: true);
        var headers = RequestInputs.Headers(arguments);
        var body = RequestInputs.Body(arguments);
        var timeout = TimeSpan.FromSeconds(RequestInputs.Seconds(arguments, "timeout", 30));
        var request = new EgressRequest(target, method, headers, body, RequestInputs.Bool(arguments, "follow_redirects", true),
            context.Policy.Egress(context.Principal));
        return await Requests.GuardedAsync(timeout, "the request", Requests.Identity, cancellationToken, async (ct, clock) =>
        {
            using var response = await client.SendAsync(request, RefusalWording.Domain, ct).ConfigureAwait(false);
            var bytes = method == "HEAD" ? [] : await EgressClient.ReadCappedAsync(response.Response, client.Options.MaxResponseBytes, ct).ConfigureAwait(false);
            return new CapabilityOutput(RequestInputs.Output(response, bytes, clock.ElapsedMilliseconds, Requests.Identity));
        }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Core.Errors.StructuredError? CheckNativeUse(InvocationContext context, JsonElement arguments) => NativeUse.Check(context, arguments);

    /// <inheritdoc />
    public TimeSpan MaxDuration(JsonElement arguments) => RequestInputs.Deadline(RequestInputs.Seconds(arguments, "timeout", 30));
}
