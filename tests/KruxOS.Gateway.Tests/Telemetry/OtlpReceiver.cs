using System.Collections.Concurrent;
using System.IO.Compression;
using System.Net;
using System.Text;
using KruxOS.Testing;

namespace KruxOS.Gateway.Tests.Telemetry;

/// <summary>A span as an OTLP collector received it (the fields the specs read).</summary>
public sealed record ReceivedSpan(string TraceId, string SpanId, string ParentSpanId, string Name, string Scope, IReadOnlyDictionary<string, string> Attributes,
    ulong StartNanos, ulong EndNanos, int StatusCode)
{
    /// <summary>The attribute's value as text, or null.</summary>
    public string? this[string key] => Attributes.TryGetValue(key, out var v) ? v : null;
}

/// <summary>
/// A minimal OTLP/HTTP collector on a loopback port of its own: it records every request body posted to
/// <c>/v1/traces</c> and <c>/v1/metrics</c>, answers 200 with an empty protobuf response, and decodes trace requests
/// with a wire-format reader of the few OTLP fields the specs need.
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private readonly ConcurrentQueue<(string Path, byte[] Body)> _requests = new();

    public OtlpReceiver()
    {
        Port = TestGateway.FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
        _listener.Start();
        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Every body received, decompressed, with its path.</summary>
    public IReadOnlyList<(string Path, byte[] Body)> Requests => [.. _requests];

    /// <summary>Every span received so far.</summary>
    public IReadOnlyList<ReceivedSpan> Spans => [.. _requests.Where(r => r.Path == "/v1/traces").SelectMany(r => OtlpWire.Spans(r.Body))];

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try { context = await _listener.GetContextAsync(); }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
            try
            {
                using var body = new MemoryStream();
                var input = context.Request.Headers["Content-Encoding"] == "gzip" ? new GZipStream(context.Request.InputStream, CompressionMode.Decompress) : context.Request.InputStream;
                await input.CopyToAsync(body);
                _requests.Enqueue((context.Request.Url!.AbsolutePath, body.ToArray()));
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.ContentLength64 = 0;
            }
            catch (Exception e) when (e is IOException or HttpListenerException or InvalidDataException)
            {
                context.Response.StatusCode = 400;
            }
            finally
            {
                context.Response.Close();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop.WaitAsync(TimeSpan.FromSeconds(10));
    }
}

/// <summary>Reads OTLP trace requests (protobuf wire format, only the fields the specs use).</summary>
public static class OtlpWire
{
    /// <summary>The spans of an <c>ExportTraceServiceRequest</c>.</summary>
    public static IEnumerable<ReceivedSpan> Spans(byte[] request)
    {
        var spans = new List<ReceivedSpan>();
        foreach (var resourceSpans in Fields(request).Where(f => f.Number == 1).Select(f => f.Bytes!))
            foreach (var scopeSpans in Fields(resourceSpans).Where(f => f.Number == 2).Select(f => f.Bytes!))
            {
                var scopeFields = Fields(scopeSpans);
                var scope = scopeFields.FirstOrDefault(f => f.Number == 1).Bytes is { } s ? Text(Fields(s).FirstOrDefault(f => f.Number == 1).Bytes) : "";
                foreach (var span in scopeFields.Where(f => f.Number == 2).Select(f => f.Bytes!))
                    spans.Add(Span(span, scope));
            }
        return spans;
    }

    private static ReceivedSpan Span(byte[] span, string scope)
    {
        var f = Fields(span);
        var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in f.Where(x => x.Number == 9).Select(x => x.Bytes!))
        {
            var kvFields = Fields(kv);
            var key = Text(kvFields.FirstOrDefault(x => x.Number == 1).Bytes);
            var any = kvFields.FirstOrDefault(x => x.Number == 2).Bytes;
            var value = any is null ? "" : Fields(any).FirstOrDefault() switch
            {
                { Number: 1, Bytes: { } b } => Text(b),
                { Number: 2 or 3, Varint: var v } => v.ToString(System.Globalization.CultureInfo.InvariantCulture),
                { Number: 4, Fixed: var d } => BitConverter.Int64BitsToDouble((long)d).ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => "",
            };
            attributes[key] = value;
        }
        var status = f.FirstOrDefault(x => x.Number == 15).Bytes is { } st ? (int)Fields(st).FirstOrDefault(x => x.Number == 3).Varint : 0;
        return new ReceivedSpan(Hex(f, 1), Hex(f, 2), Hex(f, 4), Text(f.FirstOrDefault(x => x.Number == 5).Bytes), scope, attributes,
            f.FirstOrDefault(x => x.Number == 7).Fixed, f.FirstOrDefault(x => x.Number == 8).Fixed, status);
    }

    private static string Hex(List<Field> fields, int number) => fields.FirstOrDefault(x => x.Number == number).Bytes is { } b ? Convert.ToHexStringLower(b) : "";

    private static string Text(byte[]? b) => b is null ? "" : Encoding.UTF8.GetString(b);

    private readonly record struct Field(int Number, ulong Varint, ulong Fixed, byte[]? Bytes);

    private static List<Field> Fields(byte[] message)
    {
        var fields = new List<Field>();
        var i = 0;
        while (i < message.Length)
        {
            var key = ReadVarint(message, ref i);
            var number = (int)(key >> 3);
            switch ((int)(key & 7))
            {
                case 0:
                    fields.Add(new Field(number, ReadVarint(message, ref i), 0, null));
                    break;
                case 1:
                    fields.Add(new Field(number, 0, BitConverter.ToUInt64(message, i), null));
                    i += 8;
                    break;
                case 2:
                    var length = (int)ReadVarint(message, ref i);
                    fields.Add(new Field(number, 0, 0, message[i..(i + length)]));
                    i += length;
                    break;
                case 5:
                    fields.Add(new Field(number, 0, BitConverter.ToUInt32(message, i), null));
                    i += 4;
                    break;
                default:
                    throw new InvalidDataException($"unsupported wire type in field {number}");
            }
        }
        return fields;
    }

    private static ulong ReadVarint(byte[] b, ref int i)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var x = b[i++];
            value |= (ulong)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return value;
        }
        throw new InvalidDataException("varint too long");
    }
}
