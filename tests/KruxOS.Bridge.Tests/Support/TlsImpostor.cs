using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace KruxOS.Bridge.Tests.Support;

/// <summary>
/// Something that is not the gateway, listening on loopback with TLS: its own CA and a server certificate for the
/// names it is given. It records every byte a client sends after the handshake (an impostor would read the token
/// from the WebSocket upgrade), then refuses the upgrade (HTTP 403) and closes, so a client that trusted it ends at once
/// instead of waiting out its connect timeout.
/// </summary>
public sealed class TlsImpostor : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly StringBuilder _received = new();
    private readonly Task _loop;

    public TlsImpostor(params string[] dnsNames)
    {
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=Impostor CA", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        Authority = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=impostor", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        foreach (var n in dnsNames) san.AddDnsName(n);
        san.AddIpAddress(IPAddress.Loopback);
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var leaf = leafRequest.Create(Authority, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), [7, 7, 7]);
        Certificate = leaf.CopyWithPrivateKey(leafKey);
        _listener.Start();
        _loop = Task.Run(AcceptAsync);
    }

    /// <summary>The impostor's own CA.</summary>
    public X509Certificate2 Authority { get; }

    public X509Certificate2 Certificate { get; }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Everything clients sent after a completed handshake.</summary>
    public string Received { get { lock (_received) return _received.ToString(); } }

    /// <summary>Writes the impostor's CA as PEM.</summary>
    public string WriteAuthority(string path)
    {
        File.WriteAllText(path, Authority.ExportCertificatePem() + "\n");
        return path;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException) { return; }
            _ = Task.Run(() => ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            await using var ssl = new SslStream(client.GetStream());
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = Certificate }, _stop.Token);
            var buffer = new byte[4096];
            int n;
            var request = new StringBuilder();
            while ((n = await ssl.ReadAsync(buffer, _stop.Token)) > 0)
            {
                var text = Encoding.UTF8.GetString(buffer, 0, n);
                lock (_received) _received.Append(text);
                if (!request.Append(text).ToString().Contains("\r\n\r\n", StringComparison.Ordinal)) continue;
                await ssl.WriteAsync("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), _stop.Token);
                return;
            }
        }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException or OperationCanceledException or ObjectDisposedException)
        {
            // the client refused the certificate (or went away)
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try { await _loop.WaitAsync(TimeSpan.FromSeconds(10)); } catch (TimeoutException) { }
        _stop.Dispose();
        Certificate.Dispose();
        Authority.Dispose();
    }
}
