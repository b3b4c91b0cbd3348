using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.Core.Identity;

/// <summary>
/// The auth socket's wire format, shared by the gateway and <c>mcp-bridge</c>: one JSON line each way per
/// connection. Request <c>{"method":"mint","label":"L"}</c>; answer <c>{"ok":true,"token":"krx_sess_…",
/// "expires_at":"…","principal":"user:L"}</c> or <c>{"ok":false,"error":{"type":"…","message":"…"}}</c>
/// with type <c>forbidden</c>, <c>locked</c>, <c>missing</c>, <c>invalid_request</c> or <c>unavailable</c>.
/// </summary>
public static class AuthSocketProtocol
{
    /// <summary>The only method.</summary>
    public const string MintMethod = "mint";

    /// <summary>Longest accepted request line.</summary>
    public const int MaxLineBytes = 4096;

    /// <summary>Error types.</summary>
    public static class ErrorTypes
    {
        public const string Forbidden = "forbidden";
        public const string Locked = "locked";
        public const string Missing = "missing";
        public const string InvalidRequest = "invalid_request";
        public const string Unavailable = "unavailable";
    }

    /// <summary>The request line for <paramref name="label"/>.</summary>
    public static string MintRequest(string label) =>
        new JsonObject { ["method"] = MintMethod, ["label"] = label }.ToJsonString();

    /// <summary>Parses a request line; the label, or an error message.</summary>
    public static bool TryParseRequest(string line, out string label, out string error)
    {
        label = "";
        JsonObject? o;
        try { o = JsonNode.Parse(line) as JsonObject; }
        catch (JsonException) { o = null; }
        if (o is null) { error = "the request is not a JSON object"; return false; }
        try { return TryReadRequest(o, out label, out error); }
        catch (InvalidOperationException)
        {
            // A string escape that is not text (a lone surrogate) throws when the string is read.
            error = "the request holds text that is not valid Unicode";
            return false;
        }
    }

    private static bool TryReadRequest(JsonObject o, out string label, out string error)
    {
        label = "";
        if (o["method"] is not JsonValue m || !m.TryGetValue<string>(out var method) || method != MintMethod)
        {
            error = "method must be \"mint\"";
            return false;
        }
        if (o["label"] is not JsonValue l || !l.TryGetValue<string>(out var value))
        {
            error = "label must be a string";
            return false;
        }
        label = value;
        error = "";
        return true;
    }

    /// <summary>A success line.</summary>
    public static string Minted(string token, DateTimeOffset expiresAt, string label) => new JsonObject
    {
        ["ok"] = true,
        ["token"] = token,
        ["expires_at"] = expiresAt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture),
        ["principal"] = "user:" + label,
    }.ToJsonString();

    /// <summary>A refusal line.</summary>
    public static string Refused(string type, string message) => new JsonObject
    {
        ["ok"] = false,
        ["error"] = new JsonObject { ["type"] = type, ["message"] = message },
    }.ToJsonString();

    /// <summary>The error type for a refusal decision.</summary>
    public static string ErrorTypeOf(MintOutcome outcome) => outcome switch
    {
        MintOutcome.Forbidden => ErrorTypes.Forbidden,
        MintOutcome.Locked => ErrorTypes.Locked,
        MintOutcome.Missing => ErrorTypes.Missing,
        MintOutcome.Invalid => ErrorTypes.InvalidRequest,
        _ => ErrorTypes.Unavailable,
    };

    /// <summary>A parsed answer: the token, or an error type and message.</summary>
    /// <param name="Token">The minted credential, when there is one.</param>
    /// <param name="ErrorType">Why not (<see cref="ErrorTypes"/>).</param>
    /// <param name="Message">What to tell the user.</param>
    /// <param name="Answered">False when the socket itself could not be used (absent, refusing, silent): the message then
    /// describes the transport failure, not a refusal by the gateway.</param>
    public sealed record Answer(string? Token, string? ErrorType, string Message, bool Answered = true);

    /// <summary>Parses an answer line; a malformed one is reported as <c>unavailable</c>.</summary>
    public static Answer ParseAnswer(string? line)
    {
        if (string.IsNullOrEmpty(line)) return new(null, ErrorTypes.Unavailable, "the auth socket closed without an answer");
        JsonObject? o;
        try { o = JsonNode.Parse(line) as JsonObject; }
        catch (JsonException) { o = null; }
        if (o is null) return new(null, ErrorTypes.Unavailable, "the auth socket answered something that is not JSON");
        if (o["ok"] is JsonValue ok && ok.TryGetValue<bool>(out var isOk) && isOk
            && o["token"] is JsonValue t && t.TryGetValue<string>(out var token) && TokenHashing.IsSessionTokenShape(token))
            return new(token, null, "");
        var type = (o["error"]?["type"] as JsonValue)?.TryGetValue<string>(out var ty) == true ? ty : ErrorTypes.Unavailable;
        var message = (o["error"]?["message"] as JsonValue)?.TryGetValue<string>(out var msg) == true ? msg : "the auth socket refused the request";
        return new(null, type, message);
    }
}
