using KruxOS.Actors.Hosting;
using KruxOS.Gateway.Hosting;
using Microsoft.Extensions.Configuration;

namespace KruxOS.Gateway.Tests.Support;

/// <summary>Binds the gateway's settings the way the gateway does: appsettings, then KRUXOS_ environment, then flags.</summary>
internal static class ConfigurationBinding
{
    public static (KruxOsSettings KruxOs, GatewaySettings Gateway) Bind(string[] args, Dictionary<string, string?>? appsettings = null)
    {
        var config = new ConfigurationManager();
        if (appsettings is not null) config.AddInMemoryCollection(appsettings);
        config.AddKruxOsConfiguration(args);
        return (config.GetSection("KruxOS").Get<KruxOsSettings>() ?? new(), config.GetSection("Gateway").Get<GatewaySettings>() ?? new());
    }
}
