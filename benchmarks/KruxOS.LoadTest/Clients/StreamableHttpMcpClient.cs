using System.Net;
using System.Net.Http.Headers;
using System.Text;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Clients;

/// <summary>
/// A lean MCP Streamable HTTP client on <see cref="HttpClient"/>: <c>initialize</c> returns an
/// <c>Mcp-Session-Id</c> that every later POST echoes; replies may be <c>application/json</c> or a
/// <c>text/event-stream</c> whose events are read until the one answering our request id.
/// </summary>
public sealed class StreamableHttpMcpClient : IMcpSession
{
    /// <summary>The session header of the Streamable HTTP transport.</summary>
    public const string SessionHeader = "Mcp-Session-Id";

    private static readonly MediaTypeHeaderValue JsonContentType = new("application/json");
    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly string? _token;
    private string? _sessionId;
    private string _protocolVersion = McpWire.ProtocolVersion;
    private long _nextId;

    private StreamableHttpMcpClient(HttpClient http, Uri endpoint, string? token)
    {
        _http = http;
        _endpoint = endpoint;
        _token = token;
    }

    /// <summary>
    /// An <see cref="HttpClient"/> for many concurrent sessions: unbounded connections per server, no
    /// cookies, no proxy, timeout <paramref name="callTimeout"/>. Share one per target.
    /// </summary>
    public static HttpClient CreateHttpClient(TimeSpan callTimeout) => new(new SocketsHttpHandler
    {
        UseProxy = false,
        UseCookies = false,
        MaxConnectionsPerServer = int.MaxValue,
        PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
        AutomaticDecompression = DecompressionMethods.None,
    })
    {
        Timeout = callTimeout,
    };

    /// <summary>Opens and initializes a session on <paramref name="endpoint"/> (loopback only).</summary>
    public static async Task<StreamableHttpMcpClient> OpenAsync(HttpClient http, Uri endpoint, string? token, CancellationToken ct)
    {
        LoopbackGuard.Require(endpoint);
        var client = new StreamableHttpMcpClient(http, endpoint, token);
        var init = await client.PostRequestAsync(McpWire.Initialize, ct, captureSession: true).ConfigureAwait(false);
        if (!init.IsOk) throw new SessionOpenException(init, $"initialize failed: {init.Key}");
        if (client._sessionId is null) throw new SessionOpenException(CallOutcome.Transport("no_session_id"), "initialize returned no Mcp-Session-Id");
        using var notify = client.NewPost(McpWire.InitializedNotification);
        try
        {
            using var response = await http.SendAsync(notify, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
                throw new SessionOpenException(CallOutcome.Transport($"http_{(int)response.StatusCode}"), "notifications/initialized was refused");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new SessionOpenException(McpWire.FromException(e), $"notifications/initialized failed: {e.Message}", e);
        }
        return client;
    }

    /// <inheritdoc />
    public Task<CallOutcome> CallToolAsync(McpWire.ToolCallTemplate template, CancellationToken ct) =>
        PostRequestAsync(template.Render, ct, captureSession: false);

    /// <inheritdoc />
    public Task<CallOutcome> PingAsync(CancellationToken ct) => PostRequestAsync(McpWire.Ping, ct, captureSession: false);

    private HttpRequestMessage NewPost(byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _endpoint) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = JsonContentType;
        request.Headers.TryAddWithoutValidation("Accept", "application/json, text/event-stream");
        if (_token is not null) request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {_token}");
        if (_sessionId is not null)
        {
            request.Headers.TryAddWithoutValidation(SessionHeader, _sessionId);
            request.Headers.TryAddWithoutValidation("MCP-Protocol-Version", _protocolVersion);
        }
        return request;
    }

    private async Task<CallOutcome> PostRequestAsync(Func<long, byte[]> render, CancellationToken ct, bool captureSession)
    {
        var id = Interlocked.Increment(ref _nextId);
        using var request = NewPost(render(id));
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode) return CallOutcome.Transport($"http_{(int)response.StatusCode}");
            if (captureSession && response.Headers.TryGetValues(SessionHeader, out var ids)) _sessionId = ids.FirstOrDefault();
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            CallOutcome outcome;
            if (string.Equals(mediaType, "text/event-stream", StringComparison.OrdinalIgnoreCase))
            {
                var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    outcome = await ReadEventStreamAsync(stream, id, ct).ConfigureAwait(false);
                }
            }
            else if (string.Equals(mediaType, "application/json", StringComparison.OrdinalIgnoreCase))
            {
                var body = await response.Content.ReadAsByteArrayAsync(ct).ConfigureAwait(false);
                outcome = McpWire.Classify(body);
            }
            else
            {
                return CallOutcome.Transport($"content_type_{mediaType ?? "none"}");
            }
            return outcome;
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            return McpWire.FromException(e);
        }
    }

    /// <summary>
    /// Reads server-sent events until one carries the response with <paramref name="id"/>; other events
    /// (notifications, server requests) are skipped. Multi-line <c>data:</c> fields are joined with LF.
    /// </summary>
    internal static async Task<CallOutcome> ReadEventStreamAsync(Stream stream, long id, CancellationToken ct)
    {
        using var reader = new StreamReader(stream, Encoding.UTF8, detectEncodingFromByteOrderMarks: false, bufferSize: 4096, leaveOpen: true);
        var data = new StringBuilder();
        while (true)
        {
            var line = await reader.ReadLineAsync(ct).ConfigureAwait(false);
            if (line is null || line.Length == 0)
            {
                if (data.Length > 0)
                {
                    var bytes = Encoding.UTF8.GetBytes(data.ToString());
                    data.Clear();
                    if (McpWire.TryReadId(bytes, out var got) && got == id) return McpWire.Classify(bytes);
                }
                if (line is null) return CallOutcome.Transport("event_stream_ended_without_reply");
                continue;
            }
            if (line.StartsWith("data:", StringComparison.Ordinal))
            {
                if (data.Length > 0) data.Append('\n');
                var value = line.AsSpan(5);
                if (value.Length > 0 && value[0] == ' ') value = value[1..];
                data.Append(value);
            }
            // event:, id:, retry: and comments do not matter to the driver.
        }
    }

    /// <inheritdoc />
    public async Task CloseAsync(CancellationToken ct)
    {
        if (_sessionId is null) return;
        using var request = new HttpRequestMessage(HttpMethod.Delete, _endpoint);
        if (_token is not null) request.Headers.TryAddWithoutValidation("Authorization", $"Bearer {_token}");
        request.Headers.TryAddWithoutValidation(SessionHeader, _sessionId);
        try
        {
            using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested) { }
        _sessionId = null;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
