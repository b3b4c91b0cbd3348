using System.Net;
using System.Net.Sockets;
using System.Text;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// The worker's end of the git relay (ADR 0012): a listener on 127.0.0.1 inside the sandbox's own, otherwise
/// empty, network namespace. git is pointed at it (<c>url.&lt;listener&gt;.insteadOf</c>); each connection is
/// forwarded to the gateway's relay socket, prefixed with this call's relay token and the daemon it is meant
/// for. The gateway accepts only the token of a git call in flight and decides whether that repository may
/// be reached; the worker has no other way out.
/// </summary>
internal sealed class GitTunnel : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly string _relaySocket;
    private readonly string _target;
    private readonly string _token;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    private GitTunnel(string relaySocket, string target, string? token)
    {
        _relaySocket = relaySocket;
        _target = target;
        _token = string.IsNullOrEmpty(token) ? "-" : token;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptLoopAsync();
    }

    /// <summary>The loopback port git connects to.</summary>
    public int Port { get; }

    /// <summary>Opens a tunnel to <paramref name="target"/> (<c>git://host:port</c>, normalised) through the relay socket.</summary>
    public static GitTunnel Open(string relaySocket, string target, string? token) => new(relaySocket, target, token);

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            _ = ForwardAsync(client);
        }
    }

    private async Task ForwardAsync(TcpClient client)
    {
        using var inner = client;
        using var relay = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await relay.ConnectAsync(new UnixDomainSocketEndPoint(_relaySocket), _stop.Token).ConfigureAwait(false);
            await relay.SendAsync(Encoding.ASCII.GetBytes(_token + " " + _target + "\n"), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            var up = PumpAsync(inner.GetStream(), relay, _stop.Token);
            var down = PumpAsync(new NetworkStream(relay, ownsSocket: false), inner.Client, _stop.Token);
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // git reports the broken connection itself; the relay is the only party that logs refusals.
        }
    }

    private static async Task PumpAsync(Stream from, Socket to, CancellationToken ct)
    {
        var buffer = new byte[32 * 1024];
        try
        {
            int n;
            while ((n = await from.ReadAsync(buffer, ct).ConfigureAwait(false)) > 0)
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, ct).ConfigureAwait(false);
        }
        finally
        {
            try { to.Shutdown(SocketShutdown.Send); } catch (SocketException) { } catch (ObjectDisposedException) { }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Stop();
        try { await _accepting.ConfigureAwait(false); } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
