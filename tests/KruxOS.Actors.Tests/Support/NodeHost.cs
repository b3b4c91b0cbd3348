using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Hosting;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Tests.Support;

/// <summary>A real actor-layer node (the gateway's composition without the web host) for restart and cluster specs.</summary>
public sealed class NodeHost : IAsyncDisposable
{
    private NodeHost(IHost host) => Host = host;

    public IHost Host { get; }

    public IServiceProvider Services => Host.Services;

    public ActorRegistry Registry => Services.GetRequiredService<ActorRegistry>();

    public ActorSystem System => Services.GetRequiredService<ActorSystem>();

    public static async Task<NodeHost> StartAsync(KruxOsSettings settings)
    {
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddKruxOsActors(settings);
        var host = builder.Build();
        await host.StartAsync();
        return new NodeHost(host);
    }

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await Host.StopAsync(cts.Token);
        Host.Dispose();
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}

/// <summary>A temporary directory removed at the end (SQLite pools cleared first).</summary>
public sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("kruxos-test-").FullName;

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
