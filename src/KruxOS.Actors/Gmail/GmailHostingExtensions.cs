using System.Net;
using KruxOS.Actors.Hosting;
using KruxOS.Capabilities;
using KruxOS.Proxy;
using KruxOS.Proxy.Gmail;
using KruxOS.Proxy.Gmail.Email;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Gmail;

/// <summary>
/// The Gmail area (ADR 0048): the adapter on the proxy contract, its HTTP clients, the token lifecycle, the browser
/// connect, the <c>email.*</c> module and the token refresher (a node child).
/// </summary>
public static class GmailHostingExtensions
{
    /// <summary>The refresher's creation order (after the proxy area's children).</summary>
    public const int RefreshOrder = GatewayAreas.FirstFreeOrder + 80;

    /// <summary>Registers the area with <paramref name="settings"/>' <see cref="KruxOsSettings.Gmail"/> options.</summary>
    public static IServiceCollection AddGmailArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var options = settings.Gmail;
        if (options.Validate() is { } problem) throw new ArgumentException(problem);
        services.AddSingleton(options);
        // One client for every Google endpoint: no cookies, no redirects (a token is never carried to another URL).
        var http = new HttpClient(new SocketsHttpHandler
        {
            AllowAutoRedirect = false, UseCookies = false, UseProxy = false, AutomaticDecompression = DecompressionMethods.None,
            PooledConnectionLifetime = TimeSpan.FromMinutes(5), ConnectTimeout = TimeSpan.FromSeconds(15),
        }) { Timeout = Timeout.InfiniteTimeSpan };
        services.AddSingleton(sp => new GoogleOAuthClient(http, options, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(_ => new GmailApiClient(http, options));
        services.AddSingleton(sp => new GmailTokens(() => sp.GetRequiredService<IServiceCredentials>(), sp.GetRequiredService<GoogleOAuthClient>(), options,
            sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new GmailConnector(sp.GetRequiredService<GoogleOAuthClient>(), sp.GetRequiredService<GmailApiClient>(), options,
            () => sp.GetRequiredService<IServiceConnections>(), sp.GetRequiredService<TimeProvider>()));
        services.AddServiceAdapter<GmailAdapter>();
        services.AddCapabilityModule<EmailModule>();
        services.AddNodeChild<GmailTokenRefreshActor>("gmail-token-refresh", RefreshOrder,
            ctx => GmailTokenRefreshActor.Props(ctx.Services.GetRequiredService<GmailTokens>(), options.RefreshCheckInterval));
        return services;
    }
}
