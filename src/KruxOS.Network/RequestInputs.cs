using System.Collections.Frozen;
using System.Globalization;
using System.Text;
using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;

namespace KruxOS.Network;

/// <summary>The inputs the request capabilities share, validated (spec §8.10), and the output they share.</summary>
internal static class RequestInputs
{
    /// <summary>The most request headers an agent may send.</summary>
    public const int MaxHeaders = 64;

    /// <summary>The most bytes of request header names and values together.</summary>
    public const int MaxHeaderBytes = 32 * 1024;

    private static readonly FrozenSet<string> Methods = FrozenSet.Create(StringComparer.Ordinal, "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS");

    // Set by the gateway (Host is the checked name), or hop-by-hop: an agent cannot write them.
    private static readonly FrozenSet<string> Reserved = FrozenSet.Create(StringComparer.OrdinalIgnoreCase,
        "Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive", "Upgrade", "TE", "Trailer",
        "Proxy-Connection", "Proxy-Authorization", "Proxy-Authenticate", "Expect");

    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    public static EgressTarget Target(JsonElement arguments)
    {
        var url = Str(arguments, "url");
        return EgressPolicy.TryParseTarget(url, out var target, out var refusal) ? target : throw new CapabilityException(refusal.ToError());
    }

    public static string Method(JsonElement arguments, bool allowOptions)
    {
        var method = Str(arguments, "method") ?? "GET";
        if (Methods.Contains(method) && (allowOptions || method != "OPTIONS")) return method;
        var allowed = allowOptions ? "GET, POST, PUT, DELETE, PATCH, HEAD or OPTIONS" : "GET, POST, PUT, DELETE, PATCH or HEAD";
        throw new CapabilityException(StructuredError.Create("InvalidMethod", $"Invalid method '{Shorten(method)}': use {allowed} (upper case).")
            .WithRecovery("fix_input", $"Use {allowed}.").WithContext("method", Shorten(method)));
    }

    public static IReadOnlyList<KeyValuePair<string, string>> Headers(JsonElement arguments)
    {
        if (!arguments.TryGetProperty("headers", out var headers) || headers.ValueKind == JsonValueKind.Null) return [];
        var list = new List<KeyValuePair<string, string>>();
        var bytes = 0;
        foreach (var h in headers.EnumerateObject())
        {
            if (list.Count == MaxHeaders) throw Invalid("headers", $"at most {MaxHeaders} headers");
            if (!IsToken(h.Name)) throw Invalid("headers", $"'{Shorten(h.Name)}' is not a valid header name");
            if (Reserved.Contains(h.Name)) throw Invalid("headers", $"'{h.Name}' is set by the gateway and cannot be given");
            if (h.Value.ValueKind != JsonValueKind.String) throw Invalid("headers", $"the value of '{h.Name}' must be a string");
            var value = h.Value.GetString()!;
            foreach (var c in value)
                if (c is '\r' or '\n' or '\0' || (char.IsControl(c) && c != '\t') || c > '\u00ff')
                    throw Invalid("headers", $"the value of '{h.Name}' contains a line break, a control character or a character outside Latin-1");
            bytes += h.Name.Length + value.Length;
            if (bytes > MaxHeaderBytes) throw Invalid("headers", $"the headers are larger than {MaxHeaderBytes} bytes");
            if (list.Any(x => x.Key.Equals(h.Name, StringComparison.OrdinalIgnoreCase))) throw Invalid("headers", $"'{h.Name}' is given twice");
            list.Add(new(h.Name, value));
        }
        return list;
    }

    public static byte[]? Body(JsonElement arguments) =>
        arguments.TryGetProperty("body", out var b) && b.ValueKind == JsonValueKind.String ? Encoding.UTF8.GetBytes(b.GetString()!) : null;

    public static int Seconds(JsonElement arguments, string name, int fallback) =>
        arguments.TryGetProperty(name, out var t) && t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out var s) ? s : fallback;

    public static string? Str(JsonElement arguments, string name) =>
        arguments.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static bool Bool(JsonElement arguments, string name, bool fallback) =>
        arguments.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    /// <summary>An RFC 9110 token (header names, and a credential placement's header name).</summary>
    public static bool IsToken(string s) =>
        s.Length is > 0 and <= 256 && s.All(c => c < 127 && (char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-.^_`|~".Contains(c)));

    public static CapabilityException Invalid(string field, string reason) => new(Errors.InvalidInput(field, reason));

    private static string Shorten(string s) => s.Length <= 32 ? s : s[..32] + "…";

    /// <summary>
    /// The output of a request capability. <paramref name="scrub"/> is applied to everything that comes from the remote
    /// side or names the URL (header values, body, final URL): identity for a plain request, the secret scrubber for a
    /// credentialed one.
    /// </summary>
    public static JsonElement Output(EgressResponse response, byte[] body, long durationMs, Func<string, string> scrub)
    {
        var headers = new SortedDictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Response.Headers.NonValidated.Concat(response.Response.Content.Headers.NonValidated))
        {
            var joined = string.Join(", ", values);
            headers[name] = headers.TryGetValue(name, out var before) ? before + ", " + joined : joined;
        }
        var scrubbedHeaders = headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => scrub(h.Value), StringComparer.Ordinal);
        string text;
        string encoding;
        try
        {
            text = StrictUtf8.GetString(body);
            encoding = "utf-8";
        }
        catch (DecoderFallbackException)
        {
            text = Convert.ToBase64String(body);
            encoding = "base64";
        }
        return CapabilityCatalog.ToElement(new
        {
            status_code = (int)response.Response.StatusCode,
            headers = scrubbedHeaders,
            body = scrub(text),
            body_encoding = encoding,
            size = body.LongLength,
            duration_ms = durationMs,
            url = scrub(response.Final.Uri.AbsoluteUri),
            redirects = response.Redirects,
        });
    }

    /// <summary>The run's deadline: the call's own timeout plus slack, so the handler answers before the ToolRun gives up.</summary>
    public static TimeSpan Deadline(int seconds) => TimeSpan.FromSeconds(seconds) + TimeSpan.FromSeconds(15);

    public static string Invariant(long n) => n.ToString(CultureInfo.InvariantCulture);
}
