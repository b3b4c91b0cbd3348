using Microsoft.AspNetCore.Connections.Features;

namespace KruxOS.Gateway.Hosting;

/// <summary>The three HTTP listeners of a gateway node.</summary>
public enum Listener
{
    /// <summary>MCP over WebSocket and Streamable HTTP, JSON-RPC <c>/rpc</c>.</summary>
    Gateway,
    /// <summary>The loopback User API (user tokens).</summary>
    UserApi,
    /// <summary>The loopback health endpoints (no auth).</summary>
    Health,
}

/// <summary>Endpoint metadata naming the only listener an endpoint answers on.</summary>
public sealed record ListenerMetadata(Listener Listener);

/// <summary>Tags connections with their listener and keeps endpoints on their own port.</summary>
public static class Listeners
{
    private const string ItemKey = "kruxos.listener";

    /// <summary>Connection middleware that records which listener accepted the connection.</summary>
    public static void Tag(Microsoft.AspNetCore.Server.Kestrel.Core.ListenOptions options, Listener listener) =>
        options.Use(next => connection =>
        {
            connection.Items[ItemKey] = listener;
            return next(connection);
        });

    /// <summary>The listener a request arrived on.</summary>
    public static Listener Of(HttpContext http) =>
        http.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ItemKey, out var v) == true && v is Listener l ? l : Listener.Gateway;

    /// <summary>Restricts an endpoint to one listener.</summary>
    public static TBuilder On<TBuilder>(this TBuilder builder, Listener listener) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new ListenerMetadata(listener));

    /// <summary>Answers 404 when an endpoint is reached on a listener it does not belong to.</summary>
    public static IApplicationBuilder UseListenerGuard(this IApplicationBuilder app) =>
        app.Use(async (http, next) =>
        {
            var wanted = http.GetEndpoint()?.Metadata.GetMetadata<ListenerMetadata>();
            if (wanted is not null && wanted.Listener != Of(http))
            {
                http.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            await next(http).ConfigureAwait(false);
        });
}
