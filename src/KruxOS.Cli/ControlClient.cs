using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;

namespace KruxOS.Cli;

/// <summary>The gateway could not be reached on its control socket.</summary>
public sealed class GatewayUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Talks to a gateway node over its control socket, found as the gateway places it
/// (<see cref="ControlSocketLocation.Resolve"/>): <c>$KRUXOS_CONTROL_SOCKET</c>, else <c>Gateway:ControlSocket</c>
/// in <c>$KRUXOS_CONFIG_FILE</c> (the installed launcher's default is the installed <c>/etc/kruxos/gateway.json</c>),
/// else <c>{data dir}/run/control.sock</c> with the data directory from <c>$KRUXOS_DATA_DIR</c>, that file, or
/// <c>~/.kruxos</c>.
/// </summary>
public sealed class ControlClient(string socketPath, string? source = null, IReadOnlyList<string>? publishedInfo = null)
{
    /// <summary>The socket this client uses.</summary>
    public string SocketPath { get; } = socketPath;

    /// <summary>
    /// Where a running gateway may have published what it serves (<see cref="GatewayRuntimeInfo.FileName"/>), for
    /// users who may not open the control socket: next to the control socket, and (from the environment) the
    /// appliance's run directory.
    /// </summary>
    public IReadOnlyList<string> PublishedInfo { get; } = publishedInfo
        ?? [Path.Combine(Path.GetDirectoryName(socketPath) ?? "/", GatewayRuntimeInfo.FileName)];

    /// <summary>What said to use <see cref="SocketPath"/> (for error messages).</summary>
    public string? Source { get; } = source;

    /// <summary>Resolves the socket path from the environment and the gateway's configuration file.</summary>
    public static ControlClient FromEnvironment()
    {
        var location = ControlSocketLocation.Resolve(Environment.GetEnvironmentVariable, ReadIfPresent,
            Environment.GetFolderPath(Environment.SpecialFolder.UserProfile));
        var nextToSocket = Path.Combine(Path.GetDirectoryName(location.Path) ?? "/", GatewayRuntimeInfo.FileName);
        var appliance = Path.Combine(KruxOS.Core.Tls.GatewayTrust.ApplianceRunDirectory, GatewayRuntimeInfo.FileName);
        return new ControlClient(location.Path, location.Source, nextToSocket == appliance ? [nextToSocket] : [nextToSocket, appliance]);
    }

    private static string? ReadIfPresent(string path)
    {
        try { return File.Exists(path) ? File.ReadAllText(path) : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    /// <summary>Sends one request and reads its response.</summary>
    public async Task<ControlResponse> CallAsync(string method, JsonObject? parameters, CancellationToken ct)
    {
        await using var connection = await ConnectAsync(ct).ConfigureAwait(false);
        var line = await ExchangeAsync(connection, method, parameters, ct).ConfigureAwait(false)
                   ?? throw new GatewayUnreachableException("the gateway closed the control connection without answering");
        return ControlResponse.Parse(line);
    }

    /// <summary>Opens a stream (e.g. <c>watch</c>): yields each line after the acknowledgement.</summary>
    public async IAsyncEnumerable<string> StreamAsync(string method, JsonObject? parameters, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await ConnectAsync(ct).ConfigureAwait(false);
        var ack = await ExchangeAsync(connection, method, parameters, ct).ConfigureAwait(false);
        var response = ack is null ? null : ControlResponse.Parse(ack);
        if (response is not { Ok: true }) throw new GatewayUnreachableException(response?.ErrorMessage ?? "the gateway refused the stream");
        while (!ct.IsCancellationRequested)
        {
            string? line;
            try { line = await connection.Reader.ReadLineAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { yield break; }
            if (line is null) yield break;
            yield return line;
        }
    }

    // Sends the request and reads the first answer line. A gateway that refuses the peer may answer and close
    // before the request is fully written: its answer is still read.
    private static async Task<string?> ExchangeAsync(Connection connection, string method, JsonObject? parameters, CancellationToken ct)
    {
        try { await connection.Writer.WriteLineAsync(ControlProtocol.Request(1, method, parameters).AsMemory(), ct).ConfigureAwait(false); }
        catch (IOException) { }
        try { return await connection.Reader.ReadLineAsync(ct).ConfigureAwait(false); }
        catch (IOException e) { throw new GatewayUnreachableException($"the control connection broke: {e.Message}", e); }
    }

    private async Task<Connection> ConnectAsync(CancellationToken ct)
    {
        if (!File.Exists(SocketPath))
            throw new GatewayUnreachableException($"no control socket at {SocketPath}{(Source is null ? "" : $" (from {Source})")}: is the gateway running? (set KRUXOS_DATA_DIR or KRUXOS_CONTROL_SOCKET)");
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(SocketPath), ct).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new GatewayUnreachableException($"cannot connect to {SocketPath}: {e.Message}", e);
        }
        var stream = new NetworkStream(socket, ownsSocket: true);
        return new Connection(stream, new StreamReader(stream, Encoding.UTF8), new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" });
    }

    private sealed record Connection(NetworkStream Stream, StreamReader Reader, StreamWriter Writer) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            // a refused or broken connection may still hold unwritten bytes: flushing them on dispose must not throw
            try { await Writer.DisposeAsync().ConfigureAwait(false); }
            catch (IOException) { }
            Reader.Dispose();
            await Stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}
