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
    /// <param name="directoryMode">The mode of its directory if the gateway has to create it (an existing one is left alone).</param>
    /// <param name="serve">Serves one accepted connection; it owns the socket.</param>
    /// <param name="stoppingToken">Stops accepting.</param>
    public static async Task RunAsync(string path, string mode, UnixFileMode directoryMode, Func<Socket, Task> serve, CancellationToken stoppingToken)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory) && !OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(Path.GetDirectoryName(directory) ?? directory);
            Directory.CreateDirectory(directory, directoryMode);
            // mkdir applies the umask; set the mode exactly (the control and auth sockets may race to create it, with the same mode)
            File.SetUnixFileMode(directory, directoryMode);
        }
        Directory.CreateDirectory(directory);
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
