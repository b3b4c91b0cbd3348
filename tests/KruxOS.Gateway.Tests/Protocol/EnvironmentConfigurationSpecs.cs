using KruxOS.Actors.Hosting;
using KruxOS.Gateway.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;
using static KruxOS.Gateway.Tests.Support.ConfigurationBinding;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>Specs that change the process environment run alone: no other spec may read it meanwhile.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessEnvironmentCollection
{
    public const string Name = "process environment";
}

/// <summary>
/// The <c>KRUXOS_</c> environment configures every listener, and the layers stack as documented:
/// flags over environment over the <c>--config</c> file over appsettings.
/// </summary>
[Collection(ProcessEnvironmentCollection.Name)]
public sealed class EnvironmentConfigurationSpecs
{
    [Fact]
    public void Should_bind_every_listener_from_its_environment_variable()
    {
        using var _ = new EnvironmentScope(new()
        {
            ["KRUXOS_DATA_DIR"] = "/srv/kruxos-env",
            ["KRUXOS_GATEWAY_PORT"] = "9710",
            ["KRUXOS_HEALTH_PORT"] = "9714",
            ["KRUXOS_USER_API_PORT"] = "9713",
            ["KRUXOS_BIND"] = "0.0.0.0",
        });
        var (k, g) = Bind([]);
        Assert.Equal("/srv/kruxos-env", k.DataDir);
        Assert.Equal((9710, 9714, 9713, "0.0.0.0"), (g.Port, g.HealthPort, g.UserApiPort, g.Bind));
        Assert.Equal("/srv/kruxos-env/run/control.sock", g.ControlSocketPath(k.DataDir));
    }

    [Fact]
    public void Should_bind_any_key_through_its_double_underscore_variable()
    {
        using var _ = new EnvironmentScope(new() { ["KRUXOS_Gateway__Port"] = "9720", ["KRUXOS_KruxOS__MaxConnectionsPerAgent"] = "3" });
        var (k, g) = Bind([]);
        Assert.Equal(9720, g.Port);
        Assert.Equal(3, k.MaxConnectionsPerAgent);
    }

    [Fact]
    public void Should_let_the_short_variable_win_over_the_double_underscore_one()
    {
        using var _ = new EnvironmentScope(new() { ["KRUXOS_Gateway__Port"] = "9720", ["KRUXOS_GATEWAY_PORT"] = "9721" });
        Assert.Equal(9721, Bind([]).Gateway.Port);
    }

    [Fact]
    public void Should_stack_flags_over_environment_over_the_config_file_over_appsettings()
    {
        // arrange: each layer sets the gateway port; lower layers alone set the others
        var file = Path.Combine(Directory.CreateTempSubdirectory("kruxos-config-").FullName, "gateway.json");
        File.WriteAllText(file, """{"Gateway":{"Port":9300,"HealthPort":9304,"UserApiPort":9303}}""");
        var appsettings = new Dictionary<string, string?> { ["Gateway:Port"] = "9100", ["Gateway:HealthPort"] = "9104", ["Gateway:UserApiPort"] = "9103", ["Gateway:Bind"] = "127.0.0.2" };
        try
        {
            using (new EnvironmentScope(new() { ["KRUXOS_GATEWAY_PORT"] = "9400", ["KRUXOS_HEALTH_PORT"] = "9404" }))
            {
                // act + assert: the flag wins; env beats the file; the file beats appsettings; appsettings fills the rest
                var (_, g) = Bind(["--config", file, "--gateway-port", "9500"], appsettings);
                Assert.Equal((9500, 9404, 9303, "127.0.0.2"), (g.Port, g.HealthPort, g.UserApiPort, g.Bind));
                Assert.Equal(9400, Bind(["--config", file], appsettings).Gateway.Port);
            }
            // without the environment the file wins over appsettings; without the file appsettings applies
            Assert.Equal(9300, Bind(["--config", file], appsettings).Gateway.Port);
            Assert.Equal(9100, Bind([], appsettings).Gateway.Port);
            // the file may also come from KRUXOS_CONFIG_FILE
            using (new EnvironmentScope(new() { ["KRUXOS_CONFIG_FILE"] = file }))
                Assert.Equal(9300, Bind([], appsettings).Gateway.Port);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
        }
    }

    [Fact]
    public async Task Should_configure_the_real_gateway_host_from_the_environment()
    {
        // arrange: the gateway's own composition, built (not started) with no flags at all
        var dataDir = Directory.CreateTempSubdirectory("kruxos-env-").FullName;
        try
        {
            using (new EnvironmentScope(new()
            {
                ["KRUXOS_DATA_DIR"] = dataDir, ["KRUXOS_GATEWAY_PORT"] = "9810", ["KRUXOS_HEALTH_PORT"] = "9814",
                ["KRUXOS_USER_API_PORT"] = "9813", ["KRUXOS_BIND"] = "127.0.0.1",
            }))
            {
                await using var app = GatewayApp.Build([], b => b.Logging.ClearProviders());
                // assert
                var gateway = app.Services.GetRequiredService<GatewaySettings>();
                Assert.Equal((9810, 9814, 9813, "127.0.0.1"), (gateway.Port, gateway.HealthPort, gateway.UserApiPort, gateway.Bind));
                Assert.Equal(dataDir, app.Services.GetRequiredService<KruxOsSettings>().DataDir);
            }
        }
        finally
        {
            SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    /// <summary>Sets environment variables and restores the previous values when disposed.</summary>
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
}
