using KruxOS.Core.Control;
using Xunit;

namespace KruxOS.Core.Tests.Control;

/// <summary>The CLI finds the control socket where the gateway puts it, from the same environment and configuration file.</summary>
public sealed class ControlSocketLocationSpecs
{
    private const string Home = "/home/dev";
    private const string ApplianceConfig = """
        {
          // as installed: /etc/kruxos/gateway.json
          "KruxOS": { "DataDir": "/data/kruxos" },
          "gateway": { "controlSocket": "/run/kruxos/control.sock", },
        }
        """;

    private static ControlSocketLocation Resolve(Dictionary<string, string> env, Dictionary<string, string>? files = null) =>
        ControlSocketLocation.Resolve(name => env.GetValueOrDefault(name), path => files?.GetValueOrDefault(path), Home);

    [Fact]
    public void Should_default_to_the_developer_data_directory_when_nothing_is_set() =>
        Assert.Equal("/home/dev/.kruxos/run/control.sock", Resolve([]).Path);

    [Theory]
    [InlineData("KRUXOS_DATA_DIR")]
    [InlineData("KRUXOS_KruxOS__DataDir")]
    public void Should_use_the_data_directory_from_the_environment(string variable)
    {
        var location = Resolve(new() { [variable] = "/srv/krux" });
        Assert.Equal(("/srv/krux/run/control.sock", variable), (location.Path, location.Source));
    }

    [Fact]
    public void Should_find_the_appliance_socket_through_the_installed_configuration_file_with_no_other_environment()
    {
        // the installed launcher sets KRUXOS_CONFIG_FILE to the installed gateway.json
        var location = Resolve(new() { ["KRUXOS_CONFIG_FILE"] = "/etc/kruxos/gateway.json" }, new() { ["/etc/kruxos/gateway.json"] = ApplianceConfig });
        Assert.Equal("/run/kruxos/control.sock", location.Path);
        Assert.Equal("Gateway:ControlSocket in /etc/kruxos/gateway.json", location.Source);
    }

    [Fact]
    public void Should_prefer_the_files_control_socket_over_a_data_directory_as_the_gateway_does()
    {
        // the gateway run by systemd uses the file's socket whatever KRUXOS_DATA_DIR says
        var location = Resolve(new() { ["KRUXOS_CONFIG_FILE"] = "/etc/kruxos/gateway.json", ["KRUXOS_DATA_DIR"] = "/data/kruxos" },
            new() { ["/etc/kruxos/gateway.json"] = ApplianceConfig });
        Assert.Equal("/run/kruxos/control.sock", location.Path);
    }

    [Theory]
    [InlineData("KRUXOS_CONTROL_SOCKET")]
    [InlineData("KRUXOS_Gateway__ControlSocket")]
    public void Should_let_an_explicit_socket_win_over_everything(string variable)
    {
        var location = Resolve(new() { [variable] = "/tmp/c.sock", ["KRUXOS_CONFIG_FILE"] = "/etc/kruxos/gateway.json", ["KRUXOS_DATA_DIR"] = "/x" },
            new() { ["/etc/kruxos/gateway.json"] = ApplianceConfig });
        Assert.Equal(("/tmp/c.sock", variable), (location.Path, location.Source));
    }

    [Fact]
    public void Should_use_the_files_data_directory_when_it_names_no_socket()
    {
        var location = Resolve(new() { ["KRUXOS_CONFIG_FILE"] = "/etc/g.json" }, new() { ["/etc/g.json"] = """{"KruxOS":{"DataDir":"/data/k"}}""" });
        Assert.Equal("/data/k/run/control.sock", location.Path);
        // the environment's data directory still wins over the file's, as in the gateway
        Assert.Equal("/env/run/control.sock",
            Resolve(new() { ["KRUXOS_CONFIG_FILE"] = "/etc/g.json", ["KRUXOS_DATA_DIR"] = "/env" }, new() { ["/etc/g.json"] = """{"KruxOS":{"DataDir":"/data/k"}}""" }).Path);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("not json {")]
    [InlineData("[1,2]")]
    [InlineData("""{"Gateway":{"ControlSocket":42}}""")]
    public void Should_skip_a_missing_unreadable_or_malformed_configuration_file(string? content)
    {
        var files = content is null ? new Dictionary<string, string>() : new() { ["/etc/g.json"] = content };
        Assert.Equal("/home/dev/.kruxos/run/control.sock", Resolve(new() { ["KRUXOS_CONFIG_FILE"] = "/etc/g.json" }, files).Path);
    }

    [Fact]
    public void Should_treat_empty_variables_as_unset() =>
        Assert.Equal("/home/dev/.kruxos/run/control.sock", Resolve(new() { ["KRUXOS_CONTROL_SOCKET"] = "", ["KRUXOS_DATA_DIR"] = "" }).Path);
}
