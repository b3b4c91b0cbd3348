using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Tls;
using KruxOS.Gateway.Hosting;
using KruxOS.Gateway.Tls;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace KruxOS.Gateway.Tests.Tls;

/// <summary>
/// The node's certificates on disk (ADR 0025): made once on first start with owner-only keys, kept across restarts,
/// re-signed before expiry with the same CA, a new CA only when a name falls outside the old one's constraints, and
/// the operator's certificate loaded, checked and re-read.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class NodeCertificateSpecs : IDisposable
{
    private readonly DirectoryInfo _data = Directory.CreateTempSubdirectory("kruxos-tls-");
    private readonly ManualClock _clock = new(DateTimeOffset.UtcNow);

    public void Dispose() => _data.Delete(recursive: true);

    private sealed class ManualClock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private NodeCertificates Node(GatewaySettings? gateway = null, string host = "box")
    {
        gateway ??= new GatewaySettings { Bind = "0.0.0.0" };
        var settings = new KruxOsSettings { DataDir = _data.FullName };
        return new NodeCertificates(gateway, settings, _clock, NullLogger<NodeCertificates>.Instance, host);
    }

    private string Tls(string file) => Path.Combine(_data.FullName, "tls", file);

    [Fact]
    public void Should_make_a_name_constrained_ca_and_a_node_certificate_once_with_owner_only_keys()
    {
        // act
        var node = Node();
        var served = node.Generated;

        // assert: files and modes
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.Combine(_data.FullName, "tls")));
        foreach (var key in new[] { "ca.key", "node.key" })
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Tls(key)));
        Assert.Empty(Directory.GetFiles(Path.Combine(_data.FullName, "tls"), ".*"));

        // assert: the leaf is for the node's names, valid under the CA, server auth, ~90 days
        Assert.True(served.Names.SameAs(NodeNames.ForNode("box", "0.0.0.0", [], out _)));
        Assert.True(LocalAuthority.Validates(served.Leaf, node.Authority, _clock.Now, out var why), why);
        Assert.InRange(served.NotAfter - _clock.Now, TimeSpan.FromDays(89), TimeSpan.FromDays(90));
        var ca = node.Authority;
        Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);
        Assert.True(LocalAuthority.PermittedNames(ca)!.SameAs(served.Names));
        Assert.True(ca.Extensions[LocalAuthority.NameConstraintsOid]!.Critical);

        // act: a restart on the same data directory
        var again = Node();

        // assert: nothing is made again
        Assert.Equal(served.Fingerprint, again.Generated.Fingerprint);
        Assert.Equal(ca.Thumbprint, again.Authority.Thumbprint);
    }

    [Fact]
    public void Should_not_let_the_ca_key_vouch_for_any_other_name_even_if_it_is_stolen()
    {
        // arrange: what an attacker who copied tls/ca.key and tls/ca.crt off the node holds
        Node().Initialize();
        using var stolen = X509Certificate2.CreateFromPemFile(Tls("ca.crt"), Tls("ca.key"));

        // act: sign server certificates for a bank, a LAN address and a subdomain-looking trick
        using var bank = LocalAuthority.IssueLeaf(stolen, NodeNames.Of(["bank.example"], []), "x", _clock.Now);
        using var lan = LocalAuthority.IssueLeaf(stolen, NodeNames.Of([], [IPAddress.Parse("192.168.1.1")]), "x", _clock.Now);
        using var sneaky = LocalAuthority.IssueLeaf(stolen, NodeNames.Of(["localhost.bank.example"], []), "x", _clock.Now);
        using var own = LocalAuthority.IssueLeaf(stolen, NodeNames.Of(["localhost"], [IPAddress.Loopback]), "x", _clock.Now);

        // assert: a client that trusts this CA refuses all of them; only the node's own names pass
        foreach (var forged in new[] { bank, lan, sneaky })
        {
            Assert.False(LocalAuthority.Validates(forged, stolen, _clock.Now, out var detail), "a forged certificate validated");
            Assert.NotEqual("", detail);
        }
        Assert.True(LocalAuthority.Validates(own, stolen, _clock.Now, out var ok), ok);
    }

    [Fact]
    public void Should_resign_the_node_certificate_before_it_expires_keeping_the_ca_and_tell_listeners()
    {
        var node = Node();
        var first = node.Generated;
        var ca = node.Authority.Thumbprint;
        var changed = 0;
        node.Changed += () => changed++;

        // act: 59 days on (31 left): nothing to do; 61 days on (29 left): renewed
        _clock.Now = _clock.Now.AddDays(59);
        node.Refresh();
        Assert.Equal(first.Fingerprint, node.Generated.Fingerprint);
        _clock.Now = _clock.Now.AddDays(2);
        node.Refresh();

        // assert
        Assert.NotEqual(first.Fingerprint, node.Generated.Fingerprint);
        Assert.Equal(ca, node.Authority.Thumbprint);
        Assert.Equal(1, changed);
        Assert.True(LocalAuthority.Validates(node.Generated.Leaf, node.Authority, _clock.Now, out var why), why);
        // what a restart reads back is the renewed certificate
        Assert.Equal(node.Generated.Fingerprint, Node().Generated.Fingerprint);
    }

    [Fact]
    public void Should_make_a_new_ca_when_a_configured_name_is_outside_the_old_ones_constraints()
    {
        var before = Node();
        var oldCa = before.Authority.Thumbprint;

        var after = Node(new GatewaySettings { Bind = "0.0.0.0", Tls = new GatewayTlsSettings { Names = ["kruxos.lan", "10.0.0.7"] } });

        Assert.NotEqual(oldCa, after.Authority.Thumbprint);
        Assert.Contains("kruxos.lan", after.Generated.Names.DnsNames);
        Assert.Contains(IPAddress.Parse("10.0.0.7"), after.Generated.Names.Addresses);
        Assert.True(LocalAuthority.Validates(after.Generated.Leaf, after.Authority, _clock.Now, out var why), why);
    }

    [Fact]
    public void Should_make_a_lost_or_damaged_node_key_again_with_the_same_ca()
    {
        var ca = Node().Authority.Thumbprint;
        File.WriteAllText(Tls("node.key"), "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        var node = Node();
        Assert.Equal(ca, node.Authority.Thumbprint);
        Assert.True(LocalAuthority.Validates(node.Generated.Leaf, node.Authority, _clock.Now, out var why), why);
    }

    [Fact]
    public void Should_refuse_start_on_a_configured_name_that_is_not_a_name() =>
        Assert.Contains("'*.lan'", Assert.Throws<ArgumentException>(() =>
            Node(new GatewaySettings { Tls = new GatewayTlsSettings { Names = ["*.lan"] } })).Message, StringComparison.Ordinal);

    // An operator certificate from "another CA" (made here), for kruxos.example.com only.
    private (string Cert, string Key) OperatorFiles(string name = "kruxos.example.com", UnixFileMode keyMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        int days = 200, string folder = "operator")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(_clock.Now.AddDays(-1), _clock.Now.AddDays(days));
        var dir = Directory.CreateDirectory(Path.Combine(_data.FullName, folder)).FullName;
        var certPath = Path.Combine(dir, "cert.pem");
        var keyPath = Path.Combine(dir, "key.pem");
        File.WriteAllText(certPath, cert.ExportCertificatePem());
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        File.SetUnixFileMode(keyPath, keyMode);
        return (certPath, keyPath);
    }

    private static GatewaySettings WithOperator((string Cert, string Key) files) =>
        new() { Bind = "0.0.0.0", Tls = new GatewayTlsSettings { CertificateFile = files.Cert, KeyFile = files.Key } };

    [Fact]
    public void Should_serve_the_operator_certificate_for_its_name_and_the_generated_one_on_loopback()
    {
        var node = Node(WithOperator(OperatorFiles()));

        Assert.Same(node.Operator!.Context, node.ServerOptions("kruxos.example.com", IPAddress.Parse("203.0.113.5")).ServerCertificateContext);
        Assert.Same(node.Generated.Context, node.ServerOptions("localhost", IPAddress.Loopback).ServerCertificateContext);
        Assert.Same(node.Generated.Context, node.ServerOptions(null, IPAddress.Loopback).ServerCertificateContext);
        Assert.Equal(HealthStatus.Healthy, node.Health().Status);
    }

    [Fact]
    public void Should_refuse_an_operator_key_that_every_user_can_read() =>
        Assert.Contains("chmod 600", Assert.Throws<InvalidOperationException>(() =>
            Node(WithOperator(OperatorFiles(keyMode: UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead))).Initialize()).Message,
            StringComparison.Ordinal);

    [Fact]
    public void Should_refuse_an_operator_key_that_does_not_match_the_certificate()
    {
        var files = OperatorFiles();
        var other = OperatorFiles("other.example.com", folder: "other");
        var e = Assert.Throws<InvalidOperationException>(() => Node(WithOperator(files with { Key = other.Key })).Initialize());
        Assert.Contains("is not the unencrypted PEM private key", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_take_a_renewed_operator_certificate_without_a_restart_and_keep_serving_the_old_one_if_the_new_files_are_bad()
    {
        var files = OperatorFiles(days: 10);
        var node = Node(WithOperator(files));
        var first = node.Operator!.Fingerprint;
        Assert.Equal(HealthStatus.Degraded, node.Health().Status); // expires within 14 days

        // act: the operator drops in a renewed pair (the timestamps must differ for the change to be seen)
        OperatorFiles(days: 300);
        File.SetLastWriteTimeUtc(files.Cert, DateTime.UtcNow.AddMinutes(1));
        node.Refresh();
        Assert.NotEqual(first, node.Operator!.Fingerprint);
        Assert.Equal(HealthStatus.Healthy, node.Health().Status);
        var renewed = node.Operator!.Fingerprint;

        // act: a broken certificate file
        File.WriteAllText(files.Cert, "not a certificate");
        File.SetLastWriteTimeUtc(files.Cert, DateTime.UtcNow.AddMinutes(2));
        node.Refresh();

        // assert: still served, and health says why the new one was not taken
        Assert.Equal(renewed, node.Operator!.Fingerprint);
        var health = node.Health();
        Assert.Equal(HealthStatus.Degraded, health.Status);
        Assert.Contains("not reloaded", health.Message, StringComparison.Ordinal);
    }
}
