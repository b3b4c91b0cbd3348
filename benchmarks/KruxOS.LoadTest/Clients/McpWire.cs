using System.Globalization;
using System.Text;
using System.Text.Json;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Clients;

/// <summary>
/// The few JSON-RPC messages the driver sends, pre-encoded where possible, and the classification of
/// replies into <see cref="CallOutcome"/>s. Kept out of the clients so both transports share it.
/// </summary>
public static class McpWire
{
    /// <summary>The protocol revision the driver asks for.</summary>
    public const string ProtocolVersion = "2025-06-18";

    /// <summary>The <c>notifications/initialized</c> message.</summary>
    public static readonly byte[] InitializedNotification =
        """{"jsonrpc":"2.0","method":"notifications/initialized"}"""u8.ToArray();

    /// <summary>An <c>initialize</c> request with id <paramref name="id"/>.</summary>
    public static byte[] Initialize(long id) => Encoding.UTF8.GetBytes(
        "{\"jsonrpc\":\"2.0\",\"id\":" + id.ToString(CultureInfo.InvariantCulture)
        + ",\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" + ProtocolVersion
        + "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"kruxos-loadtest\",\"version\":\"1.0\"}}}");

    /// <summary>A <c>ping</c> request with id <paramref name="id"/>.</summary>
    public static byte[] Ping(long id) => Encoding.UTF8.GetBytes(
        $$"""{"jsonrpc":"2.0","id":{{id.ToString(CultureInfo.InvariantCulture)}},"method":"ping"}""");

    /// <summary>
    /// A reusable <c>tools/call</c> template: everything but the id is encoded once, so a call costs one
    /// small buffer copy.
    /// </summary>
    public sealed class ToolCallTemplate
    {
        private readonly byte[] _prefix;
        private static readonly byte[] Suffix = "}"u8.ToArray();

        /// <summary>Builds the template for tool <paramref name="toolName"/> with raw JSON <paramref name="argumentsJson"/>.</summary>
        public ToolCallTemplate(string toolName, string argumentsJson)
        {
            using (JsonDocument.Parse(argumentsJson)) { } // fail early on malformed arguments
            ToolName = toolName;
            _prefix = Encoding.UTF8.GetBytes(
                $$"""{"jsonrpc":"2.0","method":"tools/call","params":{"name":{{JsonSerializer.Serialize(toolName)}},"arguments":{{argumentsJson}}},"id":""");
        }

        /// <summary>The tool this template calls.</summary>
        public string ToolName { get; }

        /// <summary>The full request with id <paramref name="id"/>.</summary>
        public byte[] Render(long id)
        {
            Span<byte> digits = stackalloc byte[20];
            id.TryFormat(digits, out var n, provider: CultureInfo.InvariantCulture);
            var bytes = new byte[_prefix.Length + n + Suffix.Length];
            _prefix.CopyTo(bytes, 0);
            digits[..n].CopyTo(bytes.AsSpan(_prefix.Length));
            Suffix.CopyTo(bytes, _prefix.Length + n);
            return bytes;
        }
    }

    /// <summary>Reads the numeric <c>id</c> of a JSON-RPC message; false for notifications and non-numeric ids.</summary>
    public static bool TryReadId(ReadOnlySpan<byte> utf8, out long id)
    {
        id = 0;
        var reader = new Utf8JsonReader(utf8);
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) return false;
        while (reader.Read())
        {
            if (reader.TokenType == JsonTokenType.EndObject && reader.CurrentDepth == 0) return false;
            if (reader.TokenType != JsonTokenType.PropertyName || reader.CurrentDepth != 1) continue;
            if (reader.ValueTextEquals("id"u8))
            {
                reader.Read();
                return reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out id);
            }
            reader.Skip();
        }
        return false;
    }

    /// <summary>
    /// Classifies a JSON-RPC response: an <c>error</c> member is a JSON-RPC error (detail: its code);
    /// a result with <c>isError: true</c> is a tool error (detail: the <c>error</c> field of the
    /// structured error text, or <c>unstructured</c>); anything else with a <c>result</c> is success.
    /// </summary>
    public static CallOutcome Classify(ReadOnlySpan<byte> utf8)
    {
        try
        {
            var reader = new Utf8JsonReader(utf8);
            using var doc = JsonDocument.ParseValue(ref reader);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return CallOutcome.Transport("not_a_json_object");
            if (root.TryGetProperty("error", out var error))
            {
                var code = error.ValueKind == JsonValueKind.Object && error.TryGetProperty("code", out var c) && c.TryGetInt32(out var ci)
                    ? ci.ToString(CultureInfo.InvariantCulture)
                    : "no_code";
                return new CallOutcome(OutcomeKind.JsonRpcError, code);
            }
            if (!root.TryGetProperty("result", out var result)) return CallOutcome.Transport("no_result");
            if (result.ValueKind == JsonValueKind.Object && result.TryGetProperty("isError", out var isError) && isError.ValueKind == JsonValueKind.True)
                return new CallOutcome(OutcomeKind.ToolError, ToolErrorType(result));
            return CallOutcome.Ok;
        }
        catch (JsonException)
        {
            return CallOutcome.Transport("unparseable_reply");
        }
    }

    private static string ToolErrorType(JsonElement result)
    {
        if (!result.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.Array) return "unstructured";
        foreach (var block in content.EnumerateArray())
        {
            if (!block.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String) continue;
            try
            {
                using var inner = JsonDocument.Parse(text.GetString()!);
                if (inner.RootElement.ValueKind == JsonValueKind.Object
                    && inner.RootElement.TryGetProperty("error", out var type) && type.ValueKind == JsonValueKind.String)
                    return type.GetString()!;
            }
            catch (JsonException) { }
        }
        return "unstructured";
    }

    /// <summary>Maps an exception from a client call to an outcome.</summary>
    public static CallOutcome FromException(Exception e) => e switch
    {
        TimeoutException => CallOutcome.TimedOut(),
        TaskCanceledException { InnerException: TimeoutException } => CallOutcome.TimedOut(),
        HttpRequestException h when h.StatusCode is { } s => CallOutcome.Transport($"http_{(int)s}"),
        _ => CallOutcome.Transport(e.GetType().Name),
    };
}
