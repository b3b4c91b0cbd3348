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

    public static async Task<NodeHost> StartAsync(KruxOsSettings settings, Action<IServiceCollection>? services = null)
    {
        // Each node in the test process gets its own cgroup tree, as separate hosts would.
        if (settings.Sandbox.CgroupName == "kruxos") settings.Sandbox.CgroupName = "kruxos-test-" + Guid.NewGuid().ToString("N")[..8];
        var builder = new HostApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        if (Environment.GetEnvironmentVariable("KRUXOS_TEST_LOG") is { Length: > 0 } logFile)
        {
            // KRUXOS_TEST_LOG_LEVEL (e.g. Information) writes less, for a race that a slower node hides
            builder.Logging.SetMinimumLevel(Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("KRUXOS_TEST_LOG_LEVEL"), out var level) ? level : LogLevel.Debug);
            builder.Services.AddSingleton<ILoggerProvider>(_ => new FileLoggerProvider(logFile)); // created, so disposed, by the host
        }
        builder.Services.AddKruxOsActors(settings);
        services?.Invoke(builder.Services);
        var host = builder.Build();
        try
        {
            // bounded: a start that never completes fails the spec instead of hanging the run
            await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(90));
        }
        catch
        {
            // a node that failed to start is stopped, so its ActorSystem does not outlive the spec
            await new NodeHost(host).DisposeAsync();
            throw;
        }
        // Ready as a gateway would be: calls are refused (fail closed) until the first policy set and the pause list
        // have loaded.
        await host.Services.GetRequiredService<KruxOS.Actors.Policy.PolicyStore>().Loaded.WaitAsync(TimeSpan.FromSeconds(60));
        await host.Services.GetRequiredService<KruxOS.Actors.Pauses.PauseDirectory>().Ready.WaitAsync(TimeSpan.FromSeconds(60));
        return new NodeHost(host);
    }

    // Stop and dispose, each bounded: a shutdown that never completes fails the spec (TimeoutException)
    // instead of hanging the whole run.
    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try { await Host.StopAsync(cts.Token).WaitAsync(TimeSpan.FromSeconds(60)); }
        finally { await Task.Run(Host.Dispose).WaitAsync(TimeSpan.FromSeconds(60)); }
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

/// <summary>
/// Keeps log lines in memory and appends them to the file named by KRUXOS_TEST_LOG when the node's host is disposed (for
/// diagnosing multi-node specs; writing each line as it comes slowed nodes enough to hide the races looked for).
/// </summary>
internal sealed class FileLoggerProvider(string path) : ILoggerProvider
{
    private static readonly Lock FileLock = new();
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _lines = new();

    public ILogger CreateLogger(string categoryName) => new FileLogger(this, categoryName);

    public void Dispose()
    {
        lock (FileLock) File.AppendAllLines(path, _lines);
        _lines.Clear();
    }

    private sealed class FileLogger(FileLoggerProvider owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner._lines.Enqueue($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
