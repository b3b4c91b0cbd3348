using KruxOS.Actors.Hosting;
using KruxOS.Gateway.Hosting;
using Microsoft.Extensions.Configuration;
using Xunit;
using static KruxOS.Gateway.Tests.Support.ConfigurationBinding;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>Every listener is configurable the same three ways: appsettings, KRUXOS_ environment, flags.</summary>
public sealed class ConfigurationSpecs
{
    [Fact]
    public void Should_bind_every_listener_flag()
    {
        var (k, g) = Bind(["--data-dir", "/tmp/x", "--gateway-port", "9700", "--health-port", "9704", "--user-api-port", "9703", "--bind", "0.0.0.0", "--control-socket", "/tmp/c.sock"]);
        Assert.Equal("/tmp/x", k.DataDir);
        Assert.Equal((9700, 9704, 9703, "0.0.0.0"), (g.Port, g.HealthPort, g.UserApiPort, g.Bind));
        Assert.Equal("/tmp/c.sock", g.ControlSocketPath(k.DataDir));
    }

    [Fact]
    public void Should_let_flags_override_appsettings()
    {
        var (_, g) = Bind(["--gateway-port", "9800"], new() { ["Gateway:Port"] = "9100", ["Gateway:HealthPort"] = "9104" });
        Assert.Equal(9800, g.Port);
        Assert.Equal(9104, g.HealthPort);
    }

    [Fact]
    public void Should_use_the_documented_defaults()
    {
        var (k, g) = Bind([]);
        Assert.Equal((7700, 7703, 7704, "127.0.0.1"), (g.Port, g.UserApiPort, g.HealthPort, g.Bind));
        Assert.False(k.UseClustering);
        Assert.Equal(PersistenceProvider.Sqlite, k.Persistence.Provider);
        Assert.EndsWith(Path.Combine("run", "control.sock"), g.ControlSocketPath(k.DataDir));
        // keepalive: ping every 30 s, drop after 10 s without a pong (spec §3.1)
        Assert.Equal((TimeSpan.FromSeconds(30), TimeSpan.FromSeconds(10)), (g.KeepAliveInterval, g.KeepAliveTimeout));
    }

    [Fact]
    public void Should_bind_the_keepalive_settings() =>
        Assert.Equal((TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(2)),
            (Bind(["--Gateway:KeepAliveInterval", "00:00:05", "--Gateway:KeepAliveTimeout", "00:00:02"]).Gateway is var g ? (g.KeepAliveInterval, g.KeepAliveTimeout) : default));

    [Theory]
    [InlineData(70000, "127.0.0.1")]
    [InlineData(7700, "not-an-ip")]
    public void Should_refuse_invalid_listener_settings(int port, string bind) =>
        Assert.Throws<ArgumentException>(() => new GatewaySettings { Port = port, Bind = bind }.Validate());

    [Fact]
    public void Should_require_a_connection_string_for_postgresql() =>
        Assert.Throws<ArgumentException>(() => new KruxOsSettings { Persistence = new PersistenceSettings { Provider = PersistenceProvider.PostgreSql } }.Validate());
}
