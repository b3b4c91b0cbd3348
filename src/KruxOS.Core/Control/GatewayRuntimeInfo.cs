using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.Core.Control;

/// <summary>
/// What a running gateway serves, for local tools that configure clients (<c>kruxos cli-config generate</c>,
/// <c>kruxos setup</c>): the gateway answers it in <c>status</c> over the control socket, and publishes it
/// (nothing secret: addresses and paths) as <c>endpoint.json</c> next to its auth socket for users who may use
/// that socket but not the root-only control socket.
/// </summary>
/// <param name="Mcp">The MCP WebSocket URL a local client uses: <c>wss://</c> (always served).</param>
/// <param name="McpPlainText">The same over plain <c>ws://</c>, when the port is bound to loopback; else null.</param>
/// <param name="UserApi">The loopback User API (cli-hook), e.g. <c>http://127.0.0.1:7703</c>.</param>
/// <param name="AuthSocket">The auth socket where the bridge mints credentials.</param>
/// <param name="CaCertificate">The published copy of the gateway's CA certificate (PEM).</param>
/// <param name="Bridge">The <c>mcp-bridge</c> of the gateway's own install or build.</param>
/// <param name="Hook">The <c>cli-hook</c> launcher of the gateway's own install or build.</param>
/// <param name="DataDir">The gateway's data directory.</param>
/// <param name="ProcessId">The gateway's process id (a published file whose process is gone is stale).</param>
public sealed record GatewayRuntimeInfo(
    string Mcp,
    string? McpPlainText,
    string UserApi,
    string AuthSocket,
    string CaCertificate,
    string Bridge,
    string Hook,
    string DataDir,
    int ProcessId)
{
    /// <summary>The published file's name, next to the auth socket.</summary>
    public const string FileName = "endpoint.json";

    /// <summary>The JSON form (snake_case, as every control answer).</summary>
    public JsonObject ToJson() => new()
    {
        ["mcp"] = Mcp,
        ["mcp_plain_text"] = McpPlainText,
        ["user_api"] = UserApi,
        ["auth_socket"] = AuthSocket,
        ["ca_certificate"] = CaCertificate,
        ["bridge"] = Bridge,
        ["hook"] = Hook,
        ["data_dir"] = DataDir,
        ["pid"] = ProcessId,
    };

    /// <summary>Reads the JSON form; null when anything required is missing or of the wrong type.</summary>
    public static GatewayRuntimeInfo? Parse(JsonNode? node)
    {
        if (node is not JsonObject o) return null;
        string? Str(string name) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? s : null;
        var pid = o["pid"] is JsonValue p && p.TryGetValue<int>(out var n) ? n : 0;
        if (Str("mcp") is not { } mcp || Str("user_api") is not { } userApi || Str("auth_socket") is not { } authSocket
            || Str("ca_certificate") is not { } ca || Str("bridge") is not { } bridge || Str("hook") is not { } hook || Str("data_dir") is not { } dataDir)
            return null;
        return new GatewayRuntimeInfo(mcp, Str("mcp_plain_text"), userApi, authSocket, ca, bridge, hook, dataDir, pid);
    }

    /// <summary>Reads the published file's text; null when it is not valid.</summary>
    public static GatewayRuntimeInfo? ParseText(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        try { return Parse(JsonNode.Parse(text)); }
        catch (JsonException) { return null; }
    }
}
