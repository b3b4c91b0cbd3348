using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace KruxOS.Bridge;

/// <summary>
/// Gives a <c>tools/call</c> its idempotency key, <c>params._meta["kruxos/idempotency_key"]</c>: a random
/// <c>kbr-</c> + 32 hex id per client request. The stamped text is what the bridge keeps for the request,
/// so every re-send after a reconnect carries the same key. A key the client set itself is kept as it is
/// (the gateway validates it). The rest of the message is unchanged.
/// </summary>
public static class IdempotencyKey
{
    /// <summary>The <c>_meta</c> field (same as the gateway's).</summary>
    public const string MetaField = "kruxos/idempotency_key";

    /// <summary>A new random key.</summary>
    public static string New() => "kbr-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>The request with a key in <c>params._meta</c> (added if missing); other shapes are returned unchanged for the gateway to refuse.</summary>
    public static JsonRpcFrame Stamp(JsonRpcFrame frame)
    {
        ArgumentNullException.ThrowIfNull(frame);
        if (JsonNode.Parse(frame.Text) is not JsonObject root) return frame;
        var p = root["params"];
        if (p is null) root["params"] = p = new JsonObject();
        if (p is not JsonObject parameters) return frame;
        var meta = parameters["_meta"];
        if (meta is null) parameters["_meta"] = meta = new JsonObject();
        if (meta is not JsonObject metaObject || metaObject.ContainsKey(MetaField)) return frame;
        metaObject[MetaField] = New();
        return frame with { Text = root.ToJsonString() };
    }

    /// <summary>The key of a stamped request, or null.</summary>
    public static string? Of(string text) =>
        JsonNode.Parse(text)?["params"]?["_meta"]?[MetaField] is JsonValue v && v.TryGetValue<string>(out var key) ? key : null;
}
