using System.Net;
using System.Net.Sockets;

namespace KruxOS.Bridge.Tests.Support;

/// <summary>
/// A loopback TCP relay between the bridge and the gateway, on a runtime-chosen port, that a test can use
/// to lose answers: while <see cref="DropToClient"/> is set, bytes from the gateway are read and counted
/// but not passed on; <see cref="SeverAll"/> cuts every relayed connection. It knows nothing of WebSocket.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<TcpClient> _open = [];
    private readonly Task _accept;
    private long _dropped;

    public TcpProxy(int targetPort)
    {
        _target = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accept = AcceptAsync();
    }

    public int Port { get; }

    /// <summary>While true, gateway → bridge bytes are swallowed.</summary>
    public volatile bool DropToClient;

    /// <summary>Gateway → bridge bytes swallowed so far.</summary>
    public long DroppedBytes => Interlocked.Read(ref _dropped);

    /// <summary>Closes every relayed connection (both sides).</summary>
    public void SeverAll()
    {
        lock (_open)
        {
            foreach (var c in _open) c.Dispose();
            _open.Clear();
        }
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var upstream = new TcpClient();
                try { await upstream.ConnectAsync(IPAddress.Loopback, _target, _stop.Token); }
                catch (SocketException) { client.Dispose(); upstream.Dispose(); continue; }
                lock (_open) { _open.Add(client); _open.Add(upstream); }
                _ = PumpAsync(client, upstream, toClient: false);
                _ = PumpAsync(upstream, client, toClient: true);
            }
        }
        catch (OperationCanceledException) { }
        catch (ObjectDisposedException) { }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool toClient)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            var source = from.GetStream();
            var sink = to.GetStream();
            while (true)
            {
                var n = await source.ReadAsync(buffer, _stop.Token);
                if (n == 0) break;
                if (toClient && DropToClient)
                {
                    Interlocked.Add(ref _dropped, n);
                    continue;
                }
                await sink.WriteAsync(buffer.AsMemory(0, n), _stop.Token);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException or InvalidOperationException or SocketException) { }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        SeverAll();
        try { await _accept; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }
}
