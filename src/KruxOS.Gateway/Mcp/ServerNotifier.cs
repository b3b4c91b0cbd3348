using System.Text.Json.Nodes;
using ModelContextProtocol.Protocol;
using ModelContextProtocol.Server;

namespace KruxOS.Gateway.Mcp;

/// <summary>
/// Sends actor-originated notifications (e.g. <c>notifications/kruxos/file_changed</c>) to one MCP session.
/// The transport's connection control owns one; the server is attached once the SDK session exists.
/// Notifications that arrive before that, or after the session ended, are dropped.
/// </summary>
public sealed class ServerNotifier(ILogger logger)
{
    private McpServer? _server;

    /// <summary>Binds the session's server; later notifications go to it.</summary>
    public void Attach(McpServer server) => Volatile.Write(ref _server, server);

    /// <summary>Unbinds the server at session end.</summary>
    public void Detach() => Volatile.Write(ref _server, null);

    /// <summary>Sends <paramref name="method"/> with the params object in <paramref name="paramsJson"/>; never throws.</summary>
    public void Notify(string method, string paramsJson)
    {
        if (Volatile.Read(ref _server) is not { } server) return;
        JsonNode? parameters;
        try { parameters = JsonNode.Parse(paramsJson); }
        catch (System.Text.Json.JsonException e)
        {
            logger.LogWarning(e, "Dropped notification {Method}: its params are not JSON", method);
            return;
        }
        _ = SendAsync(server, new JsonRpcNotification { Method = method, Params = parameters });
    }

    private async Task SendAsync(McpServer server, JsonRpcNotification notification)
    {
        try { await server.SendMessageAsync(notification).ConfigureAwait(false); }
        catch (Exception e) { logger.LogDebug(e, "Notification {Method} could not be sent", notification.Method); }
    }
}
