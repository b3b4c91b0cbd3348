using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Hosting;
using KruxOS.Core;
using KruxOS.Core.Approvals;
using KruxOS.Core.Control;
using KruxOS.Core.Supervision;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Control;

/// <summary>
/// Serves the control socket: a Unix socket created with mode 0600 whose peers must be the gateway's own
/// uid or root (checked with <c>SO_PEERCRED</c> on every connection). Requests are newline-delimited
/// JSON; <c>watch</c> turns the connection into a stream of supervision events.
/// </summary>
public sealed partial class ControlSocketServer(
    ControlCommands commands,
    GatewaySettings gateway,
    KruxOsSettings settings,
    SupervisionFeed feed,
    ILogger<ControlSocketServer> log,
    AuthSocketAccess access) : BackgroundService
{
    /// <summary>The socket path.</summary>
    public string SocketPath => gateway.ControlSocketPath(settings.DataDir);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = SocketPath;
        LogListening(path);
        var ownUid = PeerCredentials.OwnUid();
        await UnixSocketListener.RunAsync(path, "600", access.SocketDirectoryMode(path), client => ServeAsync(client, ownUid, stoppingToken), stoppingToken).ConfigureAwait(false);
    }

    private async Task ServeAsync(Socket client, uint ownUid, CancellationToken stoppingToken)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        uint peer;
        try { peer = PeerCredentials.PeerUid(client); }
        catch (SocketException) { return; }
        if (peer != 0 && peer != ownUid)
        {
            LogRefused(peer);
            // Take the peer's request off the socket first (unread, at most a few KiB or 5 s): closing with unread
            // data resets the connection, and the peer would never see why it was refused.
            await DiscardRequestAsync(stream, stoppingToken).ConfigureAwait(false);
            await writer.WriteLineAsync(ControlProtocol.Fail(null, "forbidden", "the control socket is for the gateway's owner only")).ConfigureAwait(false);
            return;
        }
        var reader = PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true));
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var (line, tooLong) = await ReadLineAsync(reader, stoppingToken).ConfigureAwait(false);
                if (tooLong)
                {
                    // Never buffered whole: the line is refused as soon as it passes the limit, and the connection ends.
                    await writer.WriteLineAsync(ControlProtocol.Fail(null, "too_large", $"request line longer than {ControlProtocol.MaxLineBytes} bytes")).ConfigureAwait(false);
                    return;
                }
                if (line is null) return;
                if (!TryParseRequest(line, out var id, out var method, out var p, out var why))
                {
                    await writer.WriteLineAsync(ControlProtocol.Fail(id, "parse_error", why)).ConfigureAwait(false);
                    continue;
                }
                if (method == ControlProtocol.Methods.Watch)
                {
                    await StreamEventsAsync(writer, id, p, stoppingToken).ConfigureAwait(false);
                    return;
                }
                // The peer's uid is the decider of any approval decision on this connection (an operator surface, ADR 0021).
                var response = await commands.ExecuteAsync(id, method, p, ApprovalDecider.ControlSocket(peer), stoppingToken).ConfigureAwait(false);
                try { await writer.WriteLineAsync(response).ConfigureAwait(false); }
                catch (IOException) { return; }
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException) { }
        finally
        {
            await reader.CompleteAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// One request line: a JSON object <c>{id?, method, params?}</c> (at most 64 levels deep, as any JSON the gateway
    /// reads), with a string method and an object for params. Anything else is a parse error, answered on the connection.
    /// </summary>
    internal static bool TryParseRequest(string line, out JsonNode? id, out string method, out JsonObject parameters, out string why)
    {
        id = null;
        method = "";
        parameters = new JsonObject();
        JsonObject request;
        try { request = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("the request is not a JSON object"); }
        catch (JsonException e) { why = e.Message; return false; }
        // Text escapes that are not text (a lone surrogate) throw only when a string is read: read them inside the check.
        try
        {
            id = request["id"]?.DeepClone();
            if (request["method"] is not JsonValue m || !m.TryGetValue<string>(out var name)) { why = "'method' must be a string"; return false; }
            method = name;
            if (request["params"] is { } given && given is not JsonObject) { why = "'params' must be an object"; return false; }
            parameters = request["params"] as JsonObject ?? new JsonObject();
            // A reply echoes the id: it must be writable.
            _ = id?.ToJsonString();
        }
        catch (InvalidOperationException)
        {
            id = null;
            why = "the request holds text that is not valid Unicode";
            return false;
        }
        why = "";
        return true;
    }

    // Reads up to the next '\n' without ever holding more than MaxLineBytes of it; (null, false) at the end of the stream.
    private static async Task<(string? Line, bool TooLong)> ReadLineAsync(PipeReader reader, CancellationToken ct)
    {
        while (true)
        {
            var read = await reader.ReadAsync(ct).ConfigureAwait(false);
            var buffer = read.Buffer;
            if (buffer.PositionOf((byte)'\n') is { } end)
            {
                var lineBytes = buffer.Slice(0, end);
                if (lineBytes.Length > ControlProtocol.MaxLineBytes) return (null, true);
                var line = Encoding.UTF8.GetString(lineBytes).TrimEnd('\r');
                reader.AdvanceTo(buffer.GetPosition(1, end));
                return (line, false);
            }
            if (buffer.Length > ControlProtocol.MaxLineBytes) return (null, true);
            if (read.IsCompleted)
            {
                var rest = buffer.Length == 0 ? null : Encoding.UTF8.GetString(buffer);
                reader.AdvanceTo(buffer.End);
                return (rest, false);
            }
            reader.AdvanceTo(buffer.Start, buffer.End);
        }
    }

    private static async Task DiscardRequestAsync(NetworkStream stream, CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(5));
        var buffer = new byte[4096];
        try
        {
            var total = 0;
            while (total < buffer.Length)
            {
                var n = await stream.ReadAsync(buffer.AsMemory(total), timeout.Token).ConfigureAwait(false);
                if (n == 0 || Array.IndexOf(buffer, (byte)'\n', total, n) >= 0) return;
                total += n;
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException) { }
    }

    private async Task StreamEventsAsync(StreamWriter writer, JsonNode? id, JsonObject p, CancellationToken ct)
    {
        var agent = p["agent"] is JsonValue a && a.GetValueKind() == JsonValueKind.String ? Text(a) : null;
        var types = (p["types"] is JsonValue t && t.GetValueKind() == JsonValueKind.String ? Text(t) ?? "" : "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        using var subscription = feed.Subscribe(agent, types);
        try
        {
            await writer.WriteLineAsync(ControlProtocol.Ok(id, new JsonObject { ["watching"] = true })).ConfigureAwait(false);
            await foreach (var e in subscription.Events.ReadAllAsync(ct).ConfigureAwait(false))
            {
                await writer.WriteLineAsync(JsonSerializer.Serialize(new
                {
                    type = e.Type,
                    timestamp = e.Timestamp.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
                    agent = e.Agent,
                    session_id = e.SessionId,
                    data = e.Data,
                    node = e.Node,
                }, CoreJson.Options)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException) { }
    }

    // A string parameter's text, or null when it is not valid Unicode.
    private static string? Text(JsonValue value)
    {
        try { return value.GetValue<string>(); }
        catch (InvalidOperationException) { return null; }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Control socket listening on {Path}")]
    private partial void LogListening(string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Control socket refused a peer with uid {Uid}")]
    private partial void LogRefused(uint uid);
}
