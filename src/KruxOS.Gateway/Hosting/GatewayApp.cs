using KruxOS.Actors.Vault;

namespace KruxOS.Gateway.Hosting;

/// <summary>Builds the gateway application from command-line arguments (used by <c>Program</c> and by tests).</summary>
public static class GatewayApp
{
    /// <summary>Creates a configured, mapped, not yet started gateway.</summary>
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? customize = null)
    {
        ArgumentNullException.ThrowIfNull(args);
        if (GatewayHostingExtensions.CommandLineJournalError(args) is { } journal) throw new ArgumentException(journal);
        args = GatewayHostingExtensions.NormalizeArgs(args);
        // Before anything copies the environment (the host's configuration does): taken once, then removed from it.
        var vaultPassphrase = VaultStartupPassphrase.FromEnvironment();
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddKruxOsConfiguration(args);
        builder.Services.AddSingleton(vaultPassphrase);
        customize?.Invoke(builder);
        builder.AddKruxOsGateway();
        var app = builder.Build();
        app.MapKruxOs();
        return app;
    }
}
