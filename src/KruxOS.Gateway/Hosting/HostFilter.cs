using System.Net;
using KruxOS.Core.Errors;
using KruxOS.Gateway.Endpoints;

namespace KruxOS.Gateway.Hosting;

/// <summary>What <see cref="HostFilter.Check"/> decided about a request's <c>Host</c>.</summary>
public enum HostVerdict
{
    /// <summary>The name is one this listener serves.</summary>
    Allowed,
    /// <summary>No <c>Host</c> at all (browsers always send one; refused anyway: nothing is served to an unnamed authority).</summary>
    Missing,
    /// <summary>A name this listener does not serve: a DNS-rebinding page, or a client using a name the operator never listed.</summary>
    Foreign,
}

/// <summary>
/// Which <c>Host</c> names each listener answers (ADR 0022). A DNS-rebinding page (its own name re-pointed at
/// 127.0.0.1) reaches a loopback listener with <c>Host: its-own-name</c>; refusing names the gateway was not told about
/// leaves such a page nothing to read, while every local client (which connects to <c>127.0.0.1</c> or
/// <c>localhost</c>) is unaffected. A page cannot choose an IP literal as the <c>Host</c> of a rebinding attack: with an
/// IP literal in the URL the browser connects to that address and the page's origin is that address.
/// <list type="bullet">
/// <item>User API and health (loopback only): <c>localhost</c>, loopback addresses, and <c>Gateway:AllowedHosts</c>.</item>
/// <item>Gateway (<c>Gateway:Bind</c>): the same, plus the bind address; bound to every interface (0.0.0.0, ::) also
/// any IP literal and this machine's host name, since remote clients reach it by address.</item>
/// </list>
/// The port in <c>Host</c> is not judged (a rebinding page names our port anyway); names compare case-insensitively,
/// without a trailing dot.
/// </summary>
public static class HostFilter
{
    /// <summary>Decides a request's <c>Host</c> (<paramref name="host"/> without port; IPv6 literals with or without brackets).</summary>
    /// <param name="listener">The listener the request arrived on.</param>
    /// <param name="host">The host part of the <c>Host</c> header; null or empty when there was none.</param>
    /// <param name="bind">The gateway listener's bind address (<c>Gateway:Bind</c>).</param>
    /// <param name="allowedHosts">Extra names the operator allows on every listener (<c>Gateway:AllowedHosts</c>).</param>
    /// <param name="machineName">This machine's host name.</param>
    public static HostVerdict Check(Listener listener, string? host, string bind, IReadOnlyList<string> allowedHosts, string machineName)
    {
        ArgumentNullException.ThrowIfNull(allowedHosts);
        var name = Normalize(host);
        if (name.Length == 0) return HostVerdict.Missing;
        if (name == "localhost") return HostVerdict.Allowed;
        var literal = IPAddress.TryParse(name, out var address) ? address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address : null;
        if (literal is not null && IPAddress.IsLoopback(literal)) return HostVerdict.Allowed;
        if (allowedHosts.Any(a => Normalize(a) == name)) return HostVerdict.Allowed;
        // The dashboard shares the gateway's bind address, so it answers the same names.
        if (listener is not (Listener.Gateway or Listener.Dashboard)) return HostVerdict.Foreign;

        var wildcard = bind is "0.0.0.0" or "::";
        if (literal is not null)
            return wildcard || (IPAddress.TryParse(bind, out var bound) && bound.Equals(literal)) ? HostVerdict.Allowed : HostVerdict.Foreign;
        // Off loopback, the machine's own name is what its certificate and its clients use (loopback needs no name but localhost).
        var offLoopback = wildcard || (IPAddress.TryParse(bind, out var b) && !IPAddress.IsLoopback(b));
        return offLoopback && Normalize(machineName) == name ? HostVerdict.Allowed : HostVerdict.Foreign;
    }

    /// <summary>Null when <paramref name="entry"/> is usable in <c>Gateway:AllowedHosts</c>; otherwise why not.</summary>
    public static string? ValidateEntry(string? entry)
    {
        var name = Normalize(entry);
        if (name.Length == 0) return "an entry is empty";
        if (name == "*" || name.Contains('*', StringComparison.Ordinal)) return $"'{entry}': wildcards are not allowed; list each name";
        return Uri.CheckHostName(name) is UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6
            ? null
            : $"'{entry}' is not a host name or IP address (no scheme, port or path)";
    }

    /// <summary>Refuses requests whose <c>Host</c> the listener does not serve: 400 without one, 421 for a foreign name.</summary>
    public static IApplicationBuilder UseHostFilter(this IApplicationBuilder app, GatewaySettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var machine = SafeMachineName();
        return app.Use(async (http, next) =>
        {
            var listener = Listeners.Of(http);
            switch (Check(listener, http.Request.Host.Host, settings.Bind, settings.AllowedHosts, machine))
            {
                case HostVerdict.Allowed:
                    await next(http).ConfigureAwait(false);
                    return;
                case HostVerdict.Missing:
                    await HttpErrors.WriteAsync(http, StatusCodes.Status400BadRequest,
                        StructuredError.Create("request.host_missing", "The request has no Host header; this gateway answers only requests that name it.")
                            .WithRecovery("send_host", "Send 'Host: 127.0.0.1' (or the name the gateway is reached by).")).ConfigureAwait(false);
                    return;
                default:
                    var named = http.Request.Host.Host;
                    await HttpErrors.WriteAsync(http, StatusCodes.Status421MisdirectedRequest,
                        StructuredError.Create("request.host_not_allowed",
                                $"This {Describe(listener)} does not answer for the host name '{Clip(named)}' (DNS-rebinding protection).")
                            .WithRecovery("use_allowed_host", listener is Listener.Gateway or Listener.Dashboard
                                ? "Connect by 127.0.0.1, localhost, an address of the gateway's host, or a name listed in Gateway:AllowedHosts."
                                : "Connect by 127.0.0.1 or localhost, or list the name in Gateway:AllowedHosts.")
                            .WithContext("host", Clip(named))).ConfigureAwait(false);
                    return;
            }
        });
    }

    private static string Describe(Listener listener) => listener switch
    {
        Listener.UserApi => "User API",
        Listener.Health => "health endpoint",
        Listener.Dashboard => "dashboard",
        _ => "gateway",
    };

    private static string Normalize(string? host)
    {
        var h = (host ?? "").Trim();
        if (h.StartsWith('[') && h.EndsWith(']')) h = h[1..^1];
        return h.TrimEnd('.').ToLowerInvariant();
    }

    private static string Clip(string s) => s.Length <= 100 ? s : s[..100] + "…";

    private static string SafeMachineName()
    {
        try { return Dns.GetHostName(); }
        catch (System.Net.Sockets.SocketException) { return Environment.MachineName; }
    }
}
