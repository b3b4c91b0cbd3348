using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>The MCP transport a scenario drives.</summary>
public enum McpTransport
{
    /// <summary>One JSON-RPC message per WebSocket text frame.</summary>
    WebSocket,
    /// <summary>MCP Streamable HTTP (stateful, <c>Mcp-Session-Id</c>).</summary>
    StreamableHttp,
}

/// <summary>Opens sessions of either transport against a target, with the target's token or <paramref name="token"/>.</summary>
public sealed class SessionFactory(TargetServer target, McpTransport transport, TimeSpan callTimeout, string? token = null) : IDisposable
{
    private readonly string? _token = token ?? target.Token;

    private readonly HttpClient? _http = transport == McpTransport.StreamableHttp ? StreamableHttpMcpClient.CreateHttpClient(callTimeout) : null;

    /// <summary>The report name of the transport.</summary>
    public static string Name(McpTransport t) => t == McpTransport.WebSocket ? "websocket" : "streamable-http";

    /// <summary>Opens and initializes one session.</summary>
    public async Task<IMcpSession> OpenAsync(CancellationToken ct) => transport == McpTransport.WebSocket
        ? await WebSocketMcpClient.OpenAsync(target.WebSocketUri, _token, callTimeout, ct).ConfigureAwait(false)
        : await StreamableHttpMcpClient.OpenAsync(_http!, target.HttpUri, _token, ct).ConfigureAwait(false);

    /// <summary>Opens <paramref name="count"/> sessions, <paramref name="parallelism"/> at a time; on failure closes those opened and rethrows.</summary>
    public async Task<IMcpSession[]> OpenManyAsync(int count, int parallelism, CancellationToken ct)
    {
        var sessions = new IMcpSession?[count];
        try
        {
            await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct },
                async (i, c) => sessions[i] = await OpenAsync(c).ConfigureAwait(false)).ConfigureAwait(false);
            return sessions!;
        }
        catch
        {
            await CloseAllAsync(sessions.OfType<IMcpSession>(), CancellationToken.None).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Closes and disposes sessions, ignoring failures (the run is over for them).</summary>
    public static async Task CloseAllAsync(IEnumerable<IMcpSession> sessions, CancellationToken ct)
    {
        await Parallel.ForEachAsync(sessions, new ParallelOptions { MaxDegreeOfParallelism = 64, CancellationToken = ct }, async (s, c) =>
        {
            try { await s.CloseAsync(c).ConfigureAwait(false); }
            catch (Exception e) when (e is not OperationCanceledException) { }
            await s.DisposeAsync().ConfigureAwait(false);
        }).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose() => _http?.Dispose();
}
