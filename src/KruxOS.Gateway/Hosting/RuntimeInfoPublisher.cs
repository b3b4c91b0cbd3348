using System.Text.Json;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tls;

namespace KruxOS.Gateway.Hosting;

/// <summary>
/// Once the listeners and sockets are up, publishes next to the auth socket what this node serves
/// (<see cref="GatewayRuntimeInfo.FileName"/>) and a copy of its CA certificate (both public, mode 0644; the
/// directory is reachable only by the uids allowed on the auth socket). The endpoint file is removed on stop.
/// </summary>
public sealed partial class RuntimeInfoPublisher(
    GatewayEndpoints endpoints,
    NodeCertificates certificates,
    GatewaySettings gateway,
    KruxOsSettings settings,
    KruxOS.Gateway.Control.BoundAddresses addresses,
    IHostApplicationLifetime lifetime,
    ILogger<RuntimeInfoPublisher> log) : BackgroundService
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The published endpoint file.</summary>
    public string InfoPath => Path.Combine(Path.GetDirectoryName(Path.GetFullPath(gateway.AuthSocketPath(settings.DataDir)))!, GatewayRuntimeInfo.FileName);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var started = new TaskCompletionSource();
        using var registration = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
        await addresses.Recorded.WaitAsync(stoppingToken).ConfigureAwait(false);
        // The auth socket's listener creates its directory as it starts; wait for it briefly.
        var dir = Path.GetDirectoryName(InfoPath)!;
        for (var i = 0; i < 100 && !Directory.Exists(dir); i++) await Task.Delay(50, stoppingToken).ConfigureAwait(false);
        certificates.Changed += Publish;
        try
        {
            Publish();
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        finally
        {
            certificates.Changed -= Publish;
            try { File.Delete(InfoPath); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private void Publish()
    {
        try
        {
            certificates.PublishAuthority();
            NodeCertificates.WriteAtomically(InfoPath, endpoints.Current().ToJson().ToJsonString(Indented) + "\n",
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
            LogPublished(InfoPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogPublishFailed(InfoPath, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Published the node's endpoints and CA certificate next to the auth socket ({Path})")]
    private partial void LogPublished(string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not publish {Path}: {Reason}; local tools fall back to the control socket or defaults")]
    private partial void LogPublishFailed(string path, string reason);
}
