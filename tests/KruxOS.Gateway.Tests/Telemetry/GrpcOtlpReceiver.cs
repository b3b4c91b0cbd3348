using System.Collections.Concurrent;
using System.Net;
using KruxOS.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Logging;

namespace KruxOS.Gateway.Tests.Telemetry;

/// <summary>
/// A minimal OTLP/gRPC collector on a loopback port of its own (HTTP/2 without TLS): it answers the trace and metrics
/// <c>Export</c> methods with an empty message and <c>grpc-status: 0</c>, and keeps each request message (the gRPC frame's
/// payload) for <see cref="OtlpWire"/>.
/// </summary>
public sealed class GrpcOtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<byte[]> _traces = new();

    private GrpcOtlpReceiver(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public string Endpoint => $"http://127.0.0.1:{Port}";

    /// <summary>Every span received so far.</summary>
    public IReadOnlyList<ReceivedSpan> Spans => [.. _traces.SelectMany(OtlpWire.Spans)];

    public static async Task<GrpcOtlpReceiver> StartAsync()
    {
        var port = TestGateway.FreePort();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, o => o.Protocols = HttpProtocols.Http2));
        var app = builder.Build();
        var receiver = new GrpcOtlpReceiver(app, port);
        app.MapPost("/opentelemetry.proto.collector.trace.v1.TraceService/Export", http => receiver.ExportAsync(http, keep: true));
        app.MapPost("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export", http => receiver.ExportAsync(http, keep: false));
        await app.StartAsync();
        return receiver;
    }

    private async Task ExportAsync(HttpContext http, bool keep)
    {
        using var body = new MemoryStream();
        await http.Request.Body.CopyToAsync(body);
        var frame = body.ToArray();
        // gRPC framing: 1 byte compressed flag, 4 bytes big-endian length, then the message
        if (keep && frame.Length >= 5 && frame[0] == 0) _traces.Enqueue(frame[5..]);
        http.Response.ContentType = "application/grpc";
        await http.Response.Body.WriteAsync(new byte[5]);
        http.Response.AppendTrailer("grpc-status", "0");
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));
        await _app.DisposeAsync();
    }
}
