using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Akka.Actor;
using KruxOS.Actors.Hosting;
using KruxOS.Core;
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
    ActorSystem system,
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
        using var reader = new StreamReader(stream, Encoding.UTF8);
        while (!stoppingToken.IsCancellationRequested)
        {
            string? line;
            try { line = await reader.ReadLineAsync(stoppingToken).ConfigureAwait(false); }
            catch (IOException) { return; }
            if (line is null) return;
            if (line.Length > ControlProtocol.MaxLineBytes)
            {
                await writer.WriteLineAsync(ControlProtocol.Fail(null, "too_large", "request line too long")).ConfigureAwait(false);
                return;
            }
            JsonObject request;
            try { request = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not an object"); }
            catch (JsonException e)
            {
                await writer.WriteLineAsync(ControlProtocol.Fail(null, "parse_error", e.Message)).ConfigureAwait(false);
                continue;
            }
            var id = request["id"];
            var method = request["method"]?.GetValue<string>() ?? "";
            var p = request["params"] as JsonObject ?? new JsonObject();
            if (method == ControlProtocol.Methods.Watch)
            {
                await StreamEventsAsync(writer, id, p, stoppingToken).ConfigureAwait(false);
                return;
            }
            var response = await commands.ExecuteAsync(id, method, p, stoppingToken).ConfigureAwait(false);
            try { await writer.WriteLineAsync(response).ConfigureAwait(false); }
            catch (IOException) { return; }
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
        var agent = p["agent"]?.GetValue<string>();
        var types = (p["types"]?.GetValue<string>() ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
        var channel = Channel.CreateBounded<SupervisionEvent>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest });
        var forwarder = system.ActorOf(Props.Create(() => new EventForwarder(channel.Writer)));
        system.EventStream.Subscribe(forwarder, typeof(SupervisionEvent));
        try
        {
            await writer.WriteLineAsync(ControlProtocol.Ok(id, new JsonObject { ["watching"] = true })).ConfigureAwait(false);
            await foreach (var e in channel.Reader.ReadAllAsync(ct).ConfigureAwait(false))
            {
                if (agent is not null && e.Agent != agent) continue;
                if (types.Count > 0 && !types.Contains(e.Type)) continue;
                await writer.WriteLineAsync(JsonSerializer.Serialize(new
                {
                    type = e.Type,
                    timestamp = e.Timestamp.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
                    agent = e.Agent,
                    session_id = e.SessionId,
                    data = e.Data,
                }, CoreJson.Options)).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException) { }
        finally
        {
            system.EventStream.Unsubscribe(forwarder);
            system.Stop(forwarder);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Control socket listening on {Path}")]
    private partial void LogListening(string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Control socket refused a peer with uid {Uid}")]
    private partial void LogRefused(uint uid);

    private sealed class EventForwarder : ReceiveActor
    {
        public EventForwarder(ChannelWriter<SupervisionEvent> writer) => Receive<SupervisionEvent>(e => writer.TryWrite(e));
    }
}
