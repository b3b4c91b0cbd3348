using System.Net;
using KruxOS.Core.Tls;
using Xunit;

namespace KruxOS.Core.Tests.Tls;

/// <summary>The pure TLS decisions: which traffic the MCP port takes, the node's names, when certificates are replaced, which one a handshake gets.</summary>
public sealed class TlsRulesSpecs
{
    private static readonly DateTimeOffset Now = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("127.0.0.53", true)]
    [InlineData("::1", true)]
    [InlineData("0.0.0.0", false)]
    [InlineData("::", false)]
    [InlineData("192.168.1.20", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    public void Should_serve_plain_text_only_on_a_loopback_bind(string bind, bool allowed) =>
        Assert.Equal(allowed, TlsRules.PlainTextAllowed(IPAddress.Parse(bind)));

    [Theory]
    [InlineData(0x16, true, FirstByteVerdict.Tls)]
    [InlineData(0x16, false, FirstByteVerdict.Tls)]
    [InlineData((byte)'G', true, FirstByteVerdict.PlainText)]
    [InlineData((byte)'P', false, FirstByteVerdict.RefusePlainText)]
    [InlineData(0x80, false, FirstByteVerdict.RefusePlainText)] // an SSLv2-style hello is not served either
    public void Should_tell_tls_from_plain_text_by_the_first_byte(byte first, bool plainAllowed, FirstByteVerdict expected) =>
        Assert.Equal(expected, TlsRules.Classify(first, plainAllowed));

    [Fact]
    public void Should_name_loopback_the_host_a_specific_bind_and_configured_names_once_each()
    {
        var names = NodeNames.ForNode("Box-1", "192.168.1.20", ["kruxos.lan", "KRUXOS.lan", " 10.0.0.7 ", "fd00::1", "192.168.1.20"], out var rejected);
        Assert.Empty(rejected);
        Assert.Equal(["box-1", "kruxos.lan", "localhost"], names.DnsNames);
        Assert.Equal(["10.0.0.7", "127.0.0.1", "192.168.1.20", "::1", "fd00::1"], names.Addresses.Select(a => a.ToString()).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("::")]
    [InlineData("127.0.0.1")]
    public void Should_not_add_a_wildcard_or_loopback_bind_as_a_name(string bind) =>
        Assert.True(NodeNames.ForNode(null, bind, [], out _).SameAs(NodeNames.Loopback));

    [Theory]
    [InlineData("*.example.com")]
    [InlineData("bad name")]
    [InlineData("under_score.lan")]
    [InlineData("-dash.lan")]
    [InlineData("trailing.")]
    [InlineData("fe80::1%eth0")]
    [InlineData("")]
    public void Should_reject_a_configured_name_that_is_neither_a_host_name_nor_an_address(string name)
    {
        NodeNames.ForNode(null, "0.0.0.0", [name], out var rejected);
        Assert.Equal([name], rejected);
    }

    [Fact]
    public void Should_leave_out_a_host_name_that_is_not_a_dns_name() =>
        Assert.True(NodeNames.ForNode("my_box", "127.0.0.1", [], out _).SameAs(NodeNames.Loopback));

    private static readonly NodeNames Needed = NodeNames.ForNode("box", "0.0.0.0", [], out _);

    private static GeneratedCertificateState Current(NodeNames? permits = null, NodeNames? leafNames = null, DateTimeOffset? leafExpiry = null,
        DateTimeOffset? caExpiry = null, bool signed = true) =>
        new(caExpiry ?? Now.AddYears(9), permits ?? Needed, leafExpiry ?? Now.AddDays(60), leafNames ?? Needed, signed);

    [Fact]
    public void Should_make_a_ca_on_first_start() =>
        Assert.Equal(CertificateAction.IssueAuthority, CertificateLifecycle.Decide(GeneratedCertificateState.Empty, Needed, Now).Action);

    [Fact]
    public void Should_keep_current_certificates() =>
        Assert.Equal(CertificateAction.Keep, CertificateLifecycle.Decide(Current(), Needed, Now).Action);

    [Fact]
    public void Should_resign_the_node_certificate_thirty_days_before_it_expires_with_the_same_ca()
    {
        Assert.Equal(CertificateAction.Keep, CertificateLifecycle.Decide(Current(leafExpiry: Now.AddDays(31)), Needed, Now).Action);
        Assert.Equal(CertificateAction.IssueLeaf, CertificateLifecycle.Decide(Current(leafExpiry: Now.AddDays(30)), Needed, Now).Action);
        Assert.Equal(CertificateAction.IssueLeaf, CertificateLifecycle.Decide(Current(leafExpiry: Now.AddDays(-1)), Needed, Now).Action);
    }

    [Fact]
    public void Should_resign_the_node_certificate_when_a_name_is_dropped_or_it_was_not_signed_by_this_ca()
    {
        var wider = NodeNames.ForNode("box", "0.0.0.0", ["kruxos.lan"], out _);
        Assert.Equal(CertificateAction.IssueLeaf, CertificateLifecycle.Decide(Current(permits: wider, leafNames: wider), Needed, Now).Action);
        Assert.Equal(CertificateAction.IssueLeaf, CertificateLifecycle.Decide(Current(signed: false), Needed, Now).Action);
    }

    [Fact]
    public void Should_make_a_new_ca_when_a_name_falls_outside_its_constraints_or_it_would_expire_first()
    {
        var wider = NodeNames.ForNode("box", "0.0.0.0", ["kruxos.lan"], out _);
        var decision = CertificateLifecycle.Decide(Current(), wider, Now);
        Assert.Equal(CertificateAction.IssueAuthority, decision.Action);
        Assert.Contains("kruxos.lan", decision.Reason, StringComparison.Ordinal);
        Assert.Equal(CertificateAction.IssueAuthority, CertificateLifecycle.Decide(Current(caExpiry: Now.AddDays(80)), Needed, Now).Action);
    }

    [Theory]
    [InlineData(-1, 100, ExpiryState.Valid)]
    [InlineData(-1, 13, ExpiryState.ExpiresSoon)]
    [InlineData(-100, -1, ExpiryState.Expired)]
    [InlineData(1, 100, ExpiryState.NotYetValid)]
    public void Should_report_expiry(int fromDays, int toDays, ExpiryState expected) =>
        Assert.Equal(expected, CertificateLifecycle.Expiry(Now.AddDays(fromDays), Now.AddDays(toDays), Now));

    private static readonly NodeNames Operator = NodeNames.Of(["kruxos.example.com", "*.lab.example.com"], [IPAddress.Parse("203.0.113.5")]);

    [Theory]
    [InlineData("kruxos.example.com", null, ServedSource.Operator)]
    [InlineData("KRUXOS.example.com.", null, ServedSource.Operator)]
    [InlineData("node1.lab.example.com", null, ServedSource.Operator)]
    [InlineData("a.node1.lab.example.com", null, ServedSource.Operator)] // covered by neither: the operator's is served (and refused by the client)
    [InlineData("localhost", null, ServedSource.Generated)]
    [InlineData("box", null, ServedSource.Generated)]
    [InlineData(null, "127.0.0.1", ServedSource.Generated)] // no SNI for an address: the local address decides
    [InlineData(null, "::ffff:127.0.0.1", ServedSource.Generated)]
    [InlineData(null, "203.0.113.5", ServedSource.Operator)]
    [InlineData("203.0.113.5", "127.0.0.1", ServedSource.Operator)]
    public void Should_serve_the_operator_certificate_for_its_names_and_the_generated_one_for_local_names(string? sni, string? local, ServedSource expected) =>
        Assert.Equal(expected, CertificateSelection.Choose(sni, local is null ? null : IPAddress.Parse(local), Operator, Needed));

    [Fact]
    public void Should_serve_the_generated_certificate_when_the_operator_supplied_none() =>
        Assert.Equal(ServedSource.Generated, CertificateSelection.Choose("kruxos.example.com", null, null, Needed));

    [Fact]
    public void Should_look_for_the_local_ca_where_the_gateway_publishes_it()
    {
        var env = new Dictionary<string, string>
        {
            ["KRUXOS_AUTH_SOCKET"] = "/srv/k/run/auth.sock",
            ["KRUXOS_DATA_DIR"] = "/srv/k",
            ["KRUXOS_CONFIG_FILE"] = "/etc/kruxos/gateway.json",
        };
        var files = new Dictionary<string, string>
        {
            ["/etc/kruxos/gateway.json"] = """{ "KruxOS": { "DataDir": "/data/kruxos" }, "Gateway": { "AuthSocket": "/run/kruxos/auth.sock", "ControlSocket": "/run/kruxos/control.sock" } }""",
        };
        var paths = GatewayTrust.LocalAuthorities(n => env.GetValueOrDefault(n), p => files.GetValueOrDefault(p), "/home/dev").Select(c => c.Path);
        Assert.Equal(["/srv/k/run/ca.crt", "/srv/k/tls/ca.crt", "/run/kruxos/ca.crt", "/data/kruxos/tls/ca.crt", "/home/dev/.kruxos/tls/ca.crt"], paths);
    }

    [Fact]
    public void Should_find_the_appliance_ca_with_no_environment_at_all() =>
        Assert.Contains("/run/kruxos/ca.crt", GatewayTrust.LocalAuthorities(_ => null, _ => null, "/home/dev").Select(c => c.Path));
}
