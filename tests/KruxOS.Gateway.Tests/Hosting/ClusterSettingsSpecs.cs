using Microsoft.Extensions.Configuration;
using KruxOS.Actors.Cluster;
using KruxOS.Actors.Hosting;
using KruxOS.Gateway.Hosting;
using Xunit;

namespace KruxOS.Gateway.Tests.Hosting;

public sealed class ClusterSettingsSpecs
{
    private static KruxOsSettings Cluster(Action<KruxOsSettings>? change = null)
    {
        var s = new KruxOsSettings
        {
            DataDir = "/tmp/unused",
            UseClustering = true,
            Cluster = new ClusterNodeSettings { Hostname = "10.0.0.1", Port = 7710, SeedNodes = ["10.0.0.1:7710", "10.0.0.2:7710"] },
            Persistence = new PersistenceSettings { Provider = PersistenceProvider.PostgreSql, ConnectionString = "Host=db;Database=kruxos" },
        };
        change?.Invoke(s);
        return s;
    }

    [Fact]
    public void Should_accept_a_complete_cluster_configuration() => Assert.Null(Cluster().ClusterSettingsError());

    public static TheoryData<string, string> Broken => new()
    {
        { "seeds without cluster", "clustering is off" },
        { "wildcard host", "wildcard" },
        { "port 0", "fixed port" },
        { "bad seed", "not host:port" },
        { "strategy", "keep-majority, keep-oldest" },
        { "no connection string", "needs its shared journal" },
        { "per-node sqlite", "one shared journal" },
        { "tiny lease", "LeaseTtl" },
        { "formation shorter than seed wait", "FormationTimeout" },
    };

    [Theory]
    [MemberData(nameof(Broken))]
    public void Should_name_the_setting_of_every_missing_or_conflicting_cluster_option(string which, string expected)
    {
        var s = Cluster(c =>
        {
            switch (which)
            {
                case "seeds without cluster": c.UseClustering = false; break;
                case "wildcard host": c.Cluster.Hostname = "0.0.0.0"; break;
                case "port 0": c.Cluster.Port = 0; break;
                case "bad seed": c.Cluster.SeedNodes = ["10.0.0.2"]; break;
                case "strategy": c.Cluster.SplitBrainStrategy = "keep-referee"; break;
                case "no connection string": c.Persistence.ConnectionString = null; break;
                case "per-node sqlite": c.Persistence = new PersistenceSettings(); break;
                case "tiny lease": c.Cluster.LeaseTtl = TimeSpan.FromSeconds(1); break;
                case "formation shorter than seed wait": c.Cluster.FormationTimeout = TimeSpan.FromSeconds(2); break;
            }
        });
        Assert.Contains(expected, s.ClusterSettingsError(), StringComparison.Ordinal);
        Assert.Contains(expected, Assert.Throws<ArgumentException>(s.Validate).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_read_a_lone_cluster_switch_as_true_without_swallowing_the_next_flag()
    {
        Assert.Equal(["--cluster", "true", "--cluster-host", "h"], GatewayHostingExtensions.NormalizeArgs(["--cluster", "--cluster-host", "h"]));
        Assert.Equal(["--bind", "x", "--cluster", "true"], GatewayHostingExtensions.NormalizeArgs(["--bind", "x", "--cluster"]));
        Assert.Equal(["--cluster", "false"], GatewayHostingExtensions.NormalizeArgs(["--cluster", "false"]));
    }

    [Theory]
    [InlineData("--journal-connection", "Host=db;Password=secret")]
    [InlineData("--journal-connection", "Host=db; pwd = secret")]
    [InlineData("--journal-connection=Host=db;PASSWORD=secret", null)]
    public void Should_refuse_a_journal_password_on_the_command_line_where_every_local_user_can_read_it(string flag, string? value)
    {
        string[] args = value is null ? [flag] : [flag, value];
        Assert.Contains("must not carry a password", GatewayHostingExtensions.CommandLineJournalError(args), StringComparison.Ordinal);
        Assert.Null(GatewayHostingExtensions.CommandLineJournalError(["--journal-connection", "Host=db;Username=k;Passfile=/etc/kruxos/pgpass"]));
        var e = Assert.Throws<ArgumentException>(() => GatewayApp.Build(args));
        Assert.DoesNotContain("secret", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_end_a_failed_start_with_one_line_and_the_configuration_exit_code()
    {
        using var stderr = new StringWriter();
        var code = StartupFailure.Report(new AggregateException(new ClusterStartException("could not join")), stderr);
        Assert.Equal(StartupFailure.ConfigurationExitCode, code);
        Assert.Equal("KruxOS: the gateway cannot start: could not join", stderr.ToString().TrimEnd());
        Assert.Equal(StartupFailure.SoftwareExitCode, StartupFailure.Describe(new IOException("disk")).ExitCode);
    }
}

public sealed class ApplianceClusterExampleSpecs
{
    [Theory]
    [InlineData("a")]
    [InlineData("b")]
    [InlineData("c")]
    public void Should_ship_three_node_settings_that_the_gateway_accepts_with_the_journal_from_the_environment(string node)
    {
        var repo = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", ".."));
        var file = Path.Combine(repo, "appliance", "cluster", $"gateway-node-{node}.json");
        var configuration = new ConfigurationBuilder().AddJsonFile(file).AddInMemoryCollection(
            new Dictionary<string, string?> { ["KruxOS:Persistence:ConnectionString"] = "Host=db;Database=kruxos;Username=kruxos" }).Build();
        var settings = configuration.GetSection("KruxOS").Get<KruxOsSettings>()!;
        settings.Cluster.SeedNodes = GatewayHostingExtensions.ConfiguredNames(configuration.GetSection(GatewayHostingExtensions.SeedNodesKey));
        Assert.Null(settings.ClusterSettingsError());
        Assert.True(settings.UseClustering);
        Assert.Equal(3, settings.Cluster.SeedNodes.Count);
        Assert.Equal(PersistenceProvider.PostgreSql, settings.Persistence.Provider);
        Assert.Null(configuration["KruxOS:Persistence:ConnectionString:Password"]);
        Assert.DoesNotContain("Password", File.ReadAllText(file), StringComparison.OrdinalIgnoreCase);
    }
}
