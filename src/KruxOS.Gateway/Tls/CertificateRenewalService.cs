using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Tls;

/// <summary>
/// Asks <see cref="NodeCertificates"/> every <c>Gateway:Tls:CheckInterval</c> (default hourly) to renew what is due
/// and to re-read a changed operator certificate; new handshakes get the new certificate at once, open connections
/// keep theirs.
/// </summary>
public sealed class CertificateRenewalService(NodeCertificates certificates, GatewaySettings gateway) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(gateway.Tls.CheckInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
                certificates.Refresh();
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
    }
}
