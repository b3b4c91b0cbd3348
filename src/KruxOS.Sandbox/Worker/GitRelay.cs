using System.Net.Sockets;
using System.Text;
using KruxOS.Core.Policy;
using KruxOS.Sandbox.Native;
using Microsoft.Extensions.Logging;

namespace KruxOS.Sandbox.Worker;

/// <summary>
/// The only network path out of an agent's sandbox, and only for git (ADR 0012). The warm worker has an
/// empty network namespace; for a <c>git://</c> remote it opens a loopback listener inside its namespace,
/// points git at it, and forwards each connection over this Unix socket (bound read-only into the worker at
/// <see cref="InsidePath"/>; process.run sandboxes never see it). The gateway side here reads the target
/// (<c>git://host:port</c>) and git's first request line (service and repository path), and connects to
/// the daemon only when the connection presents the token of a git call of the agent that is in flight
/// (<see cref="Grant"/>; the worker gets it with that call, nothing else in the sandbox has it) and that
/// call's policy allowlist covers that exact repository. Anything else gets a git <c>ERR</c> line and
/// never reaches the network.
/// </summary>
internal sealed class GitRelay : IAsyncDisposable
{
    /// <summary>Where the worker sees the relay socket.</summary>
    public const string InsidePath = "/run/kruxos/git.sock";

    /// <summary>The directory bound into the worker at <c>/run/kruxos</c>.</summary>
    public const string InsideDirectory = "/run/kruxos";

    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan SessionTimeout = TimeSpan.FromMinutes(5);
    private readonly Socket _listener;
    private readonly ILogger _log;
    private readonly string _agent;
    private readonly Dictionary<string, GitRemoteAllowlist> _grants = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public GitRelay(string directory, string agent, uint hostUid, bool chownToAgent, ILogger log)
    {
        _log = log;
        _agent = agent;
        Directory.CreateDirectory(directory);
        SocketPath = Path.Combine(directory, "git.sock");
        if (File.Exists(SocketPath)) File.Delete(SocketPath);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(SocketPath));
        _listener.Listen(16);
        if (chownToAgent)
        {
            // Only the agent's own uid may connect; the directory stays root's, read-only inside, and can be
            // passed through but not listed (0711).
            Libc.chown(SocketPath, hostUid, hostUid);
            Libc.chmod(SocketPath, 0x180); // 0600
            Libc.chmod(directory, 0x1C9); // 0711
        }
        _accepting = AcceptLoopAsync();
    }

    /// <summary>The socket's path on the host.</summary>
    public string SocketPath { get; }

    /// <summary>
    /// Allows relayed connections that present the returned grant's <see cref="RelayGrant.Token"/> and go to a
    /// repository <paramref name="allowlist"/> covers, while the grant lives (one git call).
    /// </summary>
    public RelayGrant Grant(GitRemoteAllowlist allowlist)
    {
        var token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        lock (_grants) _grants[token] = allowlist;
        return new RelayGrant(this, token);
    }

    private bool Allowed(string token, string normalizedUrl)
    {
        lock (_grants) return _grants.TryGetValue(token, out var g) && g.AllowsNormalized(normalizedUrl);
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket inner;
            try { inner = await _listener.AcceptAsync(_stop.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException) { return; }
            _ = HandleAsync(inner);
        }
    }

    private async Task HandleAsync(Socket inner)
    {
        using var owned = inner;
        using var session = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        session.CancelAfter(HandshakeTimeout);
        var innerStream = new NetworkStream(inner, ownsSocket: false);
        try
        {
            var line = await ReadLineAsync(innerStream, session.Token).ConfigureAwait(false);
            var blank = line.IndexOf(' ');
            var (token, target) = blank < 0 ? (string.Empty, line) : (line[..blank], line[(blank + 1)..]);
            var (request, raw) = await ReadPktLineAsync(innerStream, session.Token).ConfigureAwait(false);
            var nul = request.IndexOf('\0');
            var command = (nul < 0 ? request : request[..nul]).TrimEnd('\n');
            var space = command.IndexOf(' ');
            var service = space < 0 ? command : command[..space];
            var path = space < 0 ? string.Empty : command[(space + 1)..];
            if (service is not ("git-upload-pack" or "git-receive-pack") || !path.StartsWith('/')
                || !GitRemotes.TryNormalize(target, out var endpointUrl, out _) || GitRemotes.Endpoint(endpointUrl) is not { } endpoint
                || !GitRemotes.TryNormalize(endpointUrl.TrimEnd('/') + path, out var url, out _) || GitRemotes.Endpoint(url) != endpoint)
            {
                await RefuseAsync(innerStream, "malformed git request", session.Token).ConfigureAwait(false);
                return;
            }
            if (!Allowed(token, url))
            {
                _log.LogWarning("Git relay of agent {Agent} refused {Url}: no git call in flight with that token, or not allowed by its policy", _agent, url);
                await RefuseAsync(innerStream, $"remote {url} is not allowed by the agent's policy", session.Token).ConfigureAwait(false);
                return;
            }
            var colon = endpoint.LastIndexOf(':');
            var host = endpoint[..colon].Trim('[', ']');
            var port = int.Parse(endpoint[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            using var outer = new TcpClient();
            try { await outer.ConnectAsync(host, port, session.Token).ConfigureAwait(false); }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                await RefuseAsync(innerStream, $"cannot connect to {endpoint}: {e.Message}", CancellationToken.None).ConfigureAwait(false);
                return;
            }
            session.CancelAfter(SessionTimeout);
            var outerStream = outer.GetStream();
            await outerStream.WriteAsync(raw, session.Token).ConfigureAwait(false);
            var up = PumpAsync(innerStream, outer.Client, session.Token);
            var down = PumpAsync(outerStream, inner, session.Token);
            await Task.WhenAll(up, down).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException or FormatException or InvalidDataException)
        {
            _log.LogDebug(e, "Git relay connection of agent {Agent} ended", _agent);
        }
    }

    // Copies one direction, then half-closes the other side so git sees the end of the stream.
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

    private static async Task RefuseAsync(Stream stream, string message, CancellationToken ct)
    {
        var payload = Encoding.UTF8.GetBytes("ERR " + message + "\n");
        var line = Encoding.ASCII.GetBytes((payload.Length + 4).ToString("x4", System.Globalization.CultureInfo.InvariantCulture));
        await stream.WriteAsync(line.Concat(payload).ToArray(), ct).ConfigureAwait(false);
    }

    private static async Task<string> ReadLineAsync(Stream stream, CancellationToken ct)
    {
        var bytes = new List<byte>();
        var one = new byte[1];
        while (bytes.Count < 512)
        {
            if (await stream.ReadAsync(one, ct).ConfigureAwait(false) == 0) throw new IOException("the worker closed the relay before the target");
            if (one[0] == '\n') return Encoding.ASCII.GetString(bytes.ToArray());
            bytes.Add(one[0]);
        }
        throw new InvalidDataException("relay target line too long");
    }

    private static async Task<(string Payload, byte[] Raw)> ReadPktLineAsync(Stream stream, CancellationToken ct)
    {
        var head = new byte[4];
        await stream.ReadExactlyAsync(head, ct).ConfigureAwait(false);
        var length = Convert.ToInt32(Encoding.ASCII.GetString(head), 16);
        if (length is < 5 or > 4096) throw new InvalidDataException("bad pkt-line length");
        var raw = new byte[length];
        head.CopyTo(raw, 0);
        await stream.ReadExactlyAsync(raw.AsMemory(4), ct).ConfigureAwait(false);
        return (Encoding.UTF8.GetString(raw, 4, length - 4), raw);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        try { await _accepting.ConfigureAwait(false); } catch (OperationCanceledException) { }
        try { File.Delete(SocketPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        _stop.Dispose();
    }

    /// <summary>One git call's permission to use the relay; disposing it ends the permission.</summary>
    internal sealed class RelayGrant(GitRelay relay, string token) : IDisposable
    {
        private int _done;

        /// <summary>Random per call; passed to the worker with the call (<c>ctx.relay_token</c>).</summary>
        public string Token { get; } = token;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            lock (relay._grants) relay._grants.Remove(Token);
        }
    }
}
