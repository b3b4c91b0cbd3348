using KruxOS.Gateway.Hosting;
using KruxOS.Gateway.Telemetry;
using KruxOS.Gateway.Tests.Protocol;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace KruxOS.Gateway.Tests.Telemetry;

/// <summary>
/// The OTLP endpoint is set the three ways every option is (file, environment, flag) and refused at start when it cannot
/// work or would put a credential where <c>kruxos status</c> shows it.
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class TelemetrySettingsSpecs
{
    private static TelemetrySettings Bind(string[] args, Dictionary<string, string?>? file = null)
    {
        var config = new ConfigurationManager();
        if (file is not null) config.AddInMemoryCollection(file);
        config.AddKruxOsConfiguration(args);
        return config.GetSection("Telemetry").Get<TelemetrySettings>() ?? new TelemetrySettings();
    }

    // Sets variables for the scope of one spec (the collection runs alone), restoring what was there.
    private sealed class EnvironmentScope : IDisposable
    {
        private readonly Dictionary<string, string?> _previous = [];

        public EnvironmentScope(Dictionary<string, string> values)
        {
            foreach (var (k, v) in values)
            {
                _previous[k] = Environment.GetEnvironmentVariable(k);
                Environment.SetEnvironmentVariable(k, v);
            }
        }

        public void Dispose()
        {
            foreach (var (k, v) in _previous) Environment.SetEnvironmentVariable(k, v);
        }
    }

    [Fact]
    public void Should_take_the_endpoint_from_the_file_the_environment_and_the_flag_flag_winning()
    {
        var file = new Dictionary<string, string?> { ["Telemetry:OtlpEndpoint"] = "http://file:4318", ["Telemetry:OtlpProtocol"] = "grpc" };
        Assert.Equal("http://file:4318", Bind([], file).OtlpEndpoint);
        Assert.Equal("grpc", Bind([], file).OtlpProtocol);
        using (new EnvironmentScope(new() { ["KRUXOS_OTLP_ENDPOINT"] = "http://env:4318", ["KRUXOS_OTLP_PROTOCOL"] = "http/protobuf" }))
        {
            Assert.Equal("http://env:4318", Bind([], file).OtlpEndpoint);
            Assert.Equal("http/protobuf", Bind([], file).OtlpProtocol);
            Assert.Equal("http://flag:4317", Bind(["--otlp-endpoint", "http://flag:4317", "--otlp-protocol", "grpc"], file).OtlpEndpoint);
        }
        Assert.False(Bind([]).OtlpEnabled);
        Assert.True(Bind([]).Prometheus);
    }

    [Theory]
    [InlineData("http://user:secret@collector:4318", "user information")]
    [InlineData("http://collector:4318/?api_key=secret", "query")]
    [InlineData("ftp://collector:4318", "http:// or https://")]
    [InlineData("collector:4318", "http:// or https://")]
    [InlineData("/v1/traces", "http:// or https://")]
    public void Should_refuse_an_endpoint_that_cannot_work_or_carries_a_credential(string endpoint, string why)
    {
        var e = Assert.Throws<ArgumentException>(() => new TelemetrySettings { OtlpEndpoint = endpoint }.Validate());
        Assert.Contains(why, e.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_an_unknown_protocol()
    {
        var e = Assert.Throws<ArgumentException>(() => new TelemetrySettings { OtlpProtocol = "udp" }.Validate());
        Assert.Contains("OtlpProtocol", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_send_each_signal_to_its_path_over_http_and_to_the_endpoint_as_given_over_grpc()
    {
        var http = new TelemetrySettings { OtlpEndpoint = "https://collector.example:4318/otlp/" };
        var grpc = new TelemetrySettings { OtlpEndpoint = "http://collector.example:4317", OtlpProtocol = TelemetrySettings.Grpc };
        http.Validate();
        grpc.Validate();

        Assert.Equal("https://collector.example:4318/otlp/v1/traces", http.SignalEndpoint("traces").ToString());
        Assert.Equal("https://collector.example:4318/otlp/v1/metrics", http.SignalEndpoint("metrics").ToString());
        Assert.Equal("http://collector.example:4317/", grpc.SignalEndpoint("traces").ToString());
    }
}
