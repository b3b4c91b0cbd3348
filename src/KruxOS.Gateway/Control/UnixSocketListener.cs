using System.Net.Sockets;

namespace KruxOS.Gateway.Control;

/// <summary>
/// The local socket loop the control and auth sockets share: binds a Unix socket at a path (replacing a
/// stale file) with a file mode, serves each connection on the thread pool until stopped, and removes the
/// file at the end. What a connection may do (the peer-uid check included) is the caller's.
/// </summary>
internal static class UnixSocketListener
{
    /// <param name="path">The socket file.</param>
    /// <param name="mode">Its permission bits, in octal (e.g. "600").</param>
    /// <param name="serve">Serves one accepted connection; it owns the socket.</param>
    /// <param name="stoppingToken">Stops accepting.</param>
    public static async Task RunAsync(string path, string mode, Func<Socket, Task> serve, CancellationToken stoppingToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        if (File.Exists(path)) File.Delete(path);
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            listener.Bind(new UnixDomainSocketEndPoint(path));
            PeerCredentials.ChangeMode(path, Convert.ToUInt32(mode, 8));
            listener.Listen(64);
            while (!stoppingToken.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(stoppingToken).ConfigureAwait(false);
                _ = Task.Run(() => serve(client), stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        finally
        {
            listener.Dispose();
            try { File.Delete(path); } catch (IOException) { }
        }
    }
}
