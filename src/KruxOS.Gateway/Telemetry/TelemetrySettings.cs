namespace KruxOS.Gateway.Telemetry;

/// <summary>
/// Telemetry of the call pipeline (docs/observability.md), bound from the <c>Telemetry</c> configuration section, the
/// environment (<c>KRUXOS_OTLP_ENDPOINT</c>, <c>KRUXOS_OTLP_PROTOCOL</c>, or <c>KRUXOS_Telemetry__…</c>) and flags
/// (<c>--otlp-endpoint</c>, <c>--otlp-protocol</c>).
/// </summary>
public sealed class TelemetrySettings
{
    /// <summary>The OTLP wire protocol over HTTP with protobuf bodies (collectors listen on 4318).</summary>
    public const string HttpProtobuf = "http/protobuf";

    /// <summary>The OTLP wire protocol over gRPC (collectors listen on 4317).</summary>
    public const string Grpc = "grpc";

    /// <summary>
    /// The OTLP collector that receives the pipeline's traces and metrics, e.g. <c>http://127.0.0.1:4318</c>: an
    /// absolute <c>http</c> or <c>https</c> URL without user information, query or fragment. With
    /// <see cref="HttpProtobuf"/> it is the base URL (<c>/v1/traces</c> and <c>/v1/metrics</c> are appended, as for
    /// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>); with <see cref="Grpc"/> it is used as given. <b>Default</b>: none (no
    /// export, and no trace is recorded at all).
    /// </summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary><see cref="HttpProtobuf"/> or <see cref="Grpc"/>. <b>Default</b>: <c>http/protobuf</c>.</summary>
    public string OtlpProtocol { get; set; } = HttpProtobuf;

    /// <summary>Serve the Prometheus text format on <c>/metrics</c> of the (loopback) health listener. <b>Default</b>: true.</summary>
    public bool Prometheus { get; set; } = true;

    /// <summary>Whether OTLP export is configured.</summary>
    public bool OtlpEnabled => !string.IsNullOrWhiteSpace(OtlpEndpoint);

    /// <summary>The validated collector URL (null when export is off).</summary>
    public Uri? OtlpBase => OtlpEnabled ? new Uri(OtlpEndpoint!.Trim(), UriKind.Absolute) : null;

    /// <summary>The URL one signal is sent to: the base plus <c>/v1/{signal}</c> for <c>http/protobuf</c>, the base for gRPC.</summary>
    public Uri SignalEndpoint(string signal)
    {
        var b = OtlpBase ?? throw new InvalidOperationException("OTLP export is not configured");
        if (OtlpProtocol == Grpc) return b;
        return new Uri(b.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/v1/" + signal, UriKind.Absolute);
    }

    /// <summary>Fails fast on settings that cannot work (the start stops with the message).</summary>
    public void Validate()
    {
        if (OtlpProtocol is not (HttpProtobuf or Grpc))
            throw new ArgumentException($"Telemetry:OtlpProtocol must be '{HttpProtobuf}' or '{Grpc}'");
        if (!OtlpEnabled) return;
        // The endpoint is shown by `kruxos status`: credentials do not belong in it (a collector's headers go in
        // OTEL_EXPORTER_OTLP_HEADERS, which the exporter reads and nothing shows).
        if (!Uri.TryCreate(OtlpEndpoint!.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new ArgumentException("Telemetry:OtlpEndpoint must be an absolute http:// or https:// URL, e.g. http://127.0.0.1:4318");
        if (uri.UserInfo.Length > 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
            throw new ArgumentException("Telemetry:OtlpEndpoint must not carry user information, a query or a fragment (put collector credentials in OTEL_EXPORTER_OTLP_HEADERS)");
    }
}

/// <summary>What telemetry is in force on this node (<c>kruxos status</c>, <c>GET /api/status</c>).</summary>
/// <param name="Metrics">The Prometheus scrape URL, or null when <c>/metrics</c> is off.</param>
/// <param name="OtlpEndpoint">Where traces and metrics are exported (the base URL as configured), or null when export is off.</param>
/// <param name="OtlpProtocol">The OTLP protocol, or null when export is off.</param>
public sealed record TelemetryStatus(string? Metrics, string? OtlpEndpoint, string? OtlpProtocol);
