using System.Diagnostics.Metrics;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Telemetry;
using KruxOS.Core.Telemetry;
using KruxOS.Gateway.Hosting;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace KruxOS.Gateway.Telemetry;

/// <summary>
/// The node's OpenTelemetry providers: the pipeline's meter (<see cref="PipelineTelemetry"/>) read by the Prometheus
/// exporter on the health listener and, when configured, by an OTLP exporter; its activity source traced only when OTLP
/// export is on (with nobody listening, the pipeline creates no span at all).
/// </summary>
public static class GatewayTelemetry
{
    /// <summary>The scrape path on the health listener.</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>Registers the providers the settings ask for, and the node's gauges.</summary>
    public static IServiceCollection AddKruxOsTelemetry(this IServiceCollection services, TelemetrySettings settings)
    {
        settings.Validate();
        services.AddSingleton(settings);
        services.AddSingleton<NodeGauges>();
        if (!settings.Prometheus && !settings.OtlpEnabled) return services;

        var version = typeof(GatewayTelemetry).Assembly.GetName().Version?.ToString();
        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("kruxos-gateway", serviceVersion: version, autoGenerateServiceInstanceId: true));
        otel.WithMetrics(metrics =>
        {
            metrics.AddMeter(TelemetryNames.Source);
            if (settings.Prometheus)
                metrics.AddPrometheusExporter(o =>
                {
                    o.ScrapeEndpointPath = MetricsPath;
                    o.DisableTotalNameSuffixForCounters = false;
                });
            if (settings.OtlpEnabled)
                metrics.AddOtlpExporter(o => Configure(o, settings, "metrics"));
        });
        if (settings.OtlpEnabled)
            otel.WithTracing(tracing => tracing
                .AddSource(TelemetryNames.Source)
                .AddOtlpExporter(o => Configure(o, settings, "traces")));
        return services;
    }

    /// <summary>Maps <c>/metrics</c> on the health listener (when on) and creates the node's gauges.</summary>
    public static WebApplication MapKruxOsTelemetry(this WebApplication app)
    {
        app.Services.GetRequiredService<NodeGauges>();
        if (app.Services.GetRequiredService<TelemetrySettings>().Prometheus)
            app.MapPrometheusScrapingEndpoint(MetricsPath).On(Listener.Health);
        return app;
    }

    /// <summary>What is in force, with the health port actually bound.</summary>
    public static TelemetryStatus Status(TelemetrySettings settings, int healthPort) => new(
        settings.Prometheus ? $"http://127.0.0.1:{healthPort}{MetricsPath}" : null,
        settings.OtlpBase?.ToString(),
        settings.OtlpEnabled ? settings.OtlpProtocol : null);

    private static void Configure(OtlpExporterOptions o, TelemetrySettings settings, string signal)
    {
        o.Protocol = settings.OtlpProtocol == TelemetrySettings.Grpc ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
        o.Endpoint = settings.SignalEndpoint(signal);
    }
}

/// <summary>
/// Gauges read from this node's state when a reader collects: <see cref="TelemetryNames.ApprovalsPending"/>. Their
/// meter belongs to the host and is disposed with it.
/// </summary>
public sealed class NodeGauges : IDisposable
{
    private readonly Meter _meter = new(TelemetryNames.Source);

    /// <summary>Creates the gauges over <paramref name="approvals"/>.</summary>
    public NodeGauges(ApprovalIndex approvals, KruxOS.Actors.Proxy.WriteIndex? writes = null)
    {
        ArgumentNullException.ThrowIfNull(approvals);
        _meter.CreateObservableGauge(TelemetryNames.ApprovalsPending, () => approvals.PendingCount, "{approval}", "Approvals pending a human decision on this node.");
        if (writes is not null)
            _meter.CreateObservableGauge(TelemetryNames.ProxyDeadLetters, () => writes.DeadLetterDepth, "{write}", "Service Proxy writes in the dead letters.");
    }

    /// <inheritdoc />
    public void Dispose() => _meter.Dispose();
}
