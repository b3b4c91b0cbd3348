using System.Net;
using System.Net.Sockets;
using KruxOS.Gateway.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary>
/// A gateway started in-process the way Program.cs builds it, on free loopback ports and a temporary
/// data directory (removed on dispose). Private to the audit specs.
/// </summary>
internal sealed class AuditGatewayHost : IAsyncDisposable
{
    private AuditGatewayHost(WebApplication app, string dataDir, int userApiPort)
    {
        App = app;
        DataDir = dataDir;
        UserApiPort = userApiPort;
    }

    public WebApplication App { get; }

    public string DataDir { get; }

    public int UserApiPort { get; }

    public IServiceProvider Services => App.Services;

    public static async Task<AuditGatewayHost> StartAsync()
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-audit-gw-").FullName;
        var userApi = FreePort();
        string[] args =
        [
            "--data-dir", dataDir,
            "--gateway-port", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--user-api-port", userApi.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--health-port", FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--control-socket", Path.Combine(dataDir, "control.sock"),
        ];
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, EnvironmentName = "Development" });
        builder.Configuration.AddKruxOsConfiguration(args);
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.AddKruxOsGateway();
        var app = builder.Build();
        app.MapKruxOs();
        await app.StartAsync();
        return new AuditGatewayHost(app, dataDir, userApi);
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await App.StopAsync(cts.Token);
        await App.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(DataDir, recursive: true); }
        catch (IOException) { }
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
