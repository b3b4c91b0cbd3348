using System.Net;

namespace KruxOS.Network;

/// <summary>
/// Resolves a host name for the network capabilities. The one seam between an egress decision and DNS: the handlers
/// resolve through it once per hop, decide on exactly those addresses, and connect to the one they checked. Tests
/// replace it to control what a name resolves to (a name that resolves to 127.0.0.1) without touching the host.
/// </summary>
public interface IHostResolver
{
    /// <summary>The addresses of <paramref name="host"/> (a normalised DNS name), in resolver order; empty when it has none.</summary>
    Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken);
}

/// <summary>The operating system's resolver.</summary>
public sealed class SystemHostResolver : IHostResolver
{
    /// <inheritdoc />
    public async Task<IReadOnlyList<IPAddress>> ResolveAsync(string host, CancellationToken cancellationToken)
    {
        try { return await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false); }
        catch (System.Net.Sockets.SocketException) { return []; }
    }
}
