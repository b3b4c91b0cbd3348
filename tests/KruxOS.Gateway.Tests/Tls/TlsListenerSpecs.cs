using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Gateway.Tls;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Tls;

/// <summary>
/// The MCP port over real sockets (ADR 0025): TLS always, with the node certificate chosen per handshake (so a
/// renewal needs no restart); plain text beside it on a loopback bind; on any other bind, plain text is refused
/// before a single request is served.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class TlsListenerSpecs
{
    // The certificate a TLS client is served for `serverName` (SNI), checked against the gateway's CA only.
    private static async Task<X509Certificate2> HandshakeAsync(int port, string serverName, X509Certificate2 authority)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        await using var ssl = new SslStream(tcp.GetStream(), false, TestTls.TrustOnly(authority));
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = serverName }, TestContext.Current.CancellationToken);
        return X509CertificateLoader.LoadCertificate(ssl.RemoteCertificate!.GetRawCertData());
    }

    // One raw HTTP/1.1 request over plain TCP; the whole answer.
    private static async Task<string> PlainRequestAsync(int port, string request)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), TestContext.Current.CancellationToken);
        using var reader = new StreamReader(stream, Encoding.ASCII);
        using var cts = new CancellationTokenSource(TestTimeouts.Call);
        return await reader.ReadToEndAsync(cts.Token);
    }

    [Fact]
    public async Task Should_serve_wss_and_https_with_the_node_certificate_and_plain_text_beside_them_on_a_loopback_bind()
    {
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("tls-agent");
        var headers = new Dictionary<string, string> { ["X-KruxOS-Agent"] = "tls-agent" };

        // wss:// with only the gateway's CA trusted; the certificate is also valid for the name localhost
        await using (var wss = await RawWebSocket.ConnectAsync(gateway.McpWss, token, headers: headers, trust: gateway.Authority))
            await wss.InitializeAsync();
        using (var byName = await HandshakeAsync(gateway.GatewayPort, "localhost", gateway.Authority))
            Assert.Equal(gateway.Services.GetRequiredService<NodeCertificates>().Generated.Leaf.Thumbprint, byName.Thumbprint);
        // https:// for /rpc
        using var https = TestTls.HttpClientTrusting(gateway.Authority);
        var rpc = await https.PostAsync($"https://127.0.0.1:{gateway.GatewayPort}/rpc", new StringContent("{}"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, rpc.StatusCode);
        // ws:// on the same port (loopback bind)
        await using var ws = await RawWebSocket.ConnectAsync(gateway.McpWs, token, headers: headers);
        await ws.InitializeAsync();

        // the published CA is the one the gateway signs with, world-readable for the users allowed on its auth socket
        Assert.Equal(gateway.Authority.Thumbprint, TestTls.Load(gateway.CaCertificatePath).Thumbprint);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, File.GetUnixFileMode(gateway.CaCertificatePath));
    }

    [Fact]
    public async Task Should_refuse_plain_text_from_every_peer_when_bound_beyond_loopback_without_serving_the_request()
    {
        // arrange: the appliance's bind; the client is on loopback, which must not matter
        await using var gateway = await TestGateway.StartAsync(null, "--bind", "0.0.0.0");
        var token = await gateway.CreateAgentAsync("plain-agent");
        var rpc = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = "tools/list" }.ToJsonString();

        // act: a correctly authenticated JSON-RPC call in clear text (the token has already crossed the wire; it must not be answered)
        var answer = await PlainRequestAsync(gateway.GatewayPort,
            $"POST /rpc HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\nX-KruxOS-Agent: plain-agent\r\nContent-Type: application/json\r\nContent-Length: {rpc.Length}\r\n\r\n{rpc}");

        // assert: a refusal that says what to do, and no JSON-RPC answer
        Assert.StartsWith("HTTP/1.1 400 ", answer, StringComparison.Ordinal);
        Assert.Contains("serves TLS only: use https:// or wss://", answer, StringComparison.Ordinal);
        Assert.DoesNotContain("jsonrpc", answer, StringComparison.Ordinal);
        await Assert.ThrowsAnyAsync<Exception>(() => RawWebSocket.ConnectAsync(gateway.McpWs, token, headers: new Dictionary<string, string> { ["X-KruxOS-Agent"] = "plain-agent" }));

        // and the same call over TLS is served
        using var https = TestTls.HttpClientTrusting(gateway.Authority);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"https://127.0.0.1:{gateway.GatewayPort}/rpc") { Content = new StringContent(rpc, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        request.Headers.Add("X-KruxOS-Agent", "plain-agent");
        var served = await https.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, served.StatusCode);
        Assert.Contains("tools", await served.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    private sealed class SettableClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task Should_serve_a_renewed_node_certificate_to_new_connections_without_a_restart()
    {
        // arrange: the node made its certificate 61 days ago (29 left, inside the 30-day renewal window once time catches up)
        var clock = new SettableClock(DateTimeOffset.UtcNow.AddDays(-61));
        await using var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(new CertificateClock(clock)), null,
            "--Gateway:Tls:CheckInterval", "00:00:01");
        var before = await HandshakeAsync(gateway.GatewayPort, "localhost", gateway.Authority);
        var ca = gateway.Authority.Thumbprint;

        // act: the present arrives; the renewal check runs every second
        clock.Now = DateTimeOffset.UtcNow;
        X509Certificate2 after = before;
        for (var i = 0; i < 100 && after.Thumbprint == before.Thumbprint; i++)
        {
            await Task.Delay(200, TestContext.Current.CancellationToken);
            after = await HandshakeAsync(gateway.GatewayPort, "localhost", gateway.Authority);
        }

        // assert: a new certificate from the same CA, good for 90 days, while the same gateway process kept running
        Assert.NotEqual(before.Thumbprint, after.Thumbprint);
        Assert.Equal(ca, gateway.Authority.Thumbprint);
        Assert.True(after.NotAfter.ToUniversalTime() > DateTime.UtcNow.AddDays(80));
    }

    [Fact]
    public async Task Should_serve_the_operator_certificate_for_its_name_and_the_generated_one_for_localhost()
    {
        // arrange: an operator certificate for kruxos.example.com from a CA of their own
        var dir = Directory.CreateTempSubdirectory("kruxos-opcert-").FullName;
        try
        {
            using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var caRequest = new CertificateRequest("CN=Operator CA", caKey, HashAlgorithmName.SHA256);
            caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
            using var operatorCa = caRequest.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
            using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var leafRequest = new CertificateRequest("CN=kruxos.example.com", leafKey, HashAlgorithmName.SHA256);
            var san = new SubjectAlternativeNameBuilder();
            san.AddDnsName("kruxos.example.com");
            leafRequest.CertificateExtensions.Add(san.Build());
            leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
            using var leaf = leafRequest.Create(operatorCa, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(100), [1, 2, 3, 4]);
            var certFile = Path.Combine(dir, "fullchain.pem");
            var keyFile = Path.Combine(dir, "privkey.pem");
            await File.WriteAllTextAsync(certFile, leaf.ExportCertificatePem() + "\n" + operatorCa.ExportCertificatePem() + "\n", TestContext.Current.CancellationToken);
            await File.WriteAllTextAsync(keyFile, leafKey.ExportPkcs8PrivateKeyPem(), TestContext.Current.CancellationToken);
            File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);

            await using var gateway = await TestGateway.StartAsync(null, "--tls-cert", certFile, "--tls-key", keyFile);

            // act + assert
            var forName = await HandshakeAsync(gateway.GatewayPort, "kruxos.example.com", operatorCa);
            Assert.Equal(leaf.Thumbprint, forName.Thumbprint);
            var local = await HandshakeAsync(gateway.GatewayPort, "localhost", gateway.Authority);
            Assert.Equal(gateway.Services.GetRequiredService<NodeCertificates>().Generated.Leaf.Thumbprint, local.Thumbprint);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
