using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;

namespace KruxOS.Cli;

/// <summary>The gateway could not be reached on its control socket.</summary>
public sealed class GatewayUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Talks to a gateway node over its control socket: <c>$KRUXOS_CONTROL_SOCKET</c>, else
/// <c>$KRUXOS_DATA_DIR/run/control.sock</c>, else <c>~/.kruxos/run/control.sock</c>.
/// </summary>
public sealed class ControlClient(string socketPath)
{
    /// <summary>The socket this client uses.</summary>
    public string SocketPath { get; } = socketPath;

    /// <summary>Resolves the socket path from the environment.</summary>
    public static ControlClient FromEnvironment()
    {
        if (Environment.GetEnvironmentVariable("KRUXOS_CONTROL_SOCKET") is { Length: > 0 } explicitPath) return new ControlClient(explicitPath);
        var dataDir = Environment.GetEnvironmentVariable("KRUXOS_DATA_DIR") is { Length: > 0 } d
            ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kruxos");
        return new ControlClient(Path.Combine(dataDir, "run", "control.sock"));
    }

    /// <summary>Sends one request and reads its response.</summary>
    public async Task<ControlResponse> CallAsync(string method, JsonObject? parameters, CancellationToken ct)
    {
        await using var connection = await ConnectAsync(ct).ConfigureAwait(false);
        await connection.Writer.WriteLineAsync(ControlProtocol.Request(1, method, parameters).AsMemory(), ct).ConfigureAwait(false);
        var line = await connection.Reader.ReadLineAsync(ct).ConfigureAwait(false)
                   ?? throw new GatewayUnreachableException("the gateway closed the control connection without answering");
        return ControlResponse.Parse(line);
    }

    /// <summary>Opens a stream (e.g. <c>watch</c>): yields each line after the acknowledgement.</summary>
    public async IAsyncEnumerable<string> StreamAsync(string method, JsonObject? parameters, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        await using var connection = await ConnectAsync(ct).ConfigureAwait(false);
        await connection.Writer.WriteLineAsync(ControlProtocol.Request(1, method, parameters).AsMemory(), ct).ConfigureAwait(false);
        var ack = await connection.Reader.ReadLineAsync(ct).ConfigureAwait(false);
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

    private async Task<Connection> ConnectAsync(CancellationToken ct)
    {
        if (!File.Exists(SocketPath))
            throw new GatewayUnreachableException($"no control socket at {SocketPath}: is the gateway running? (set KRUXOS_DATA_DIR or KRUXOS_CONTROL_SOCKET)");
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
            await Writer.DisposeAsync().ConfigureAwait(false);
            Reader.Dispose();
            await Stream.DisposeAsync().ConfigureAwait(false);
        }
    }
}
