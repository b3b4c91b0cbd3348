using System.Formats.Asn1;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using KruxOS.Core.Tls;

namespace KruxOS.Gateway.Tls;

/// <summary>
/// The node's own certificate authority: makes the CA (ECDSA P-256, ten years, name-constrained to the node's
/// names so that its key can never vouch for any other site) and signs node certificates (90 days, server
/// authentication only, the node's names as subject alternative names). Reads those properties back from
/// certificates on disk. No I/O: the caller stores and loads the PEM files (ADR 0025).
/// </summary>
public static class LocalAuthority
{
    /// <summary>The name constraints extension (RFC 5280 §4.2.1.10).</summary>
    public const string NameConstraintsOid = "2.5.29.30";

    /// <summary>The server authentication extended key usage.</summary>
    public const string ServerAuthenticationOid = "1.3.6.1.5.5.7.3.1";

    /// <summary>Certificates are back-dated by this much, so a client whose clock is slightly behind accepts them.</summary>
    public static readonly TimeSpan ClockSkew = TimeSpan.FromHours(1);

    private static readonly Asn1Tag Permitted = new(TagClass.ContextSpecific, 0, isConstructed: true);
    private static readonly Asn1Tag DnsNameTag = new(TagClass.ContextSpecific, 2);
    private static readonly Asn1Tag IpAddressTag = new(TagClass.ContextSpecific, 7);

    /// <summary>A new CA that may sign only for <paramref name="permits"/>.</summary>
    public static X509Certificate2 CreateAuthority(NodeNames permits, string hostLabel, DateTimeOffset now)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(Subject($"KruxOS gateway CA on {hostLabel}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(new X509Extension(NameConstraintsOid, EncodeNameConstraints(permits), critical: true));
        return request.CreateSelfSigned(now - ClockSkew, now + CertificateLifecycle.AuthorityLifetime);
    }

    /// <summary>A node certificate for <paramref name="names"/>, signed by <paramref name="authority"/> (which holds its private key).</summary>
    public static X509Certificate2 IssueLeaf(X509Certificate2 authority, NodeNames names, string hostLabel, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(authority);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(Subject($"KruxOS gateway on {hostLabel}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(ServerAuthenticationOid)], critical: false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(authority, includeKeyIdentifier: true, includeIssuerAndSerial: false));
        var san = new SubjectAlternativeNameBuilder();
        foreach (var dns in names.DnsNames) san.AddDnsName(dns);
        foreach (var ip in names.Addresses) san.AddIpAddress(ip);
        request.CertificateExtensions.Add(san.Build(critical: false));
        var notAfter = now + CertificateLifecycle.LeafLifetime;
        if (notAfter > authority.NotAfter) notAfter = authority.NotAfter;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F; // a positive integer
        using var unsigned = request.Create(authority, now - ClockSkew, notAfter, serial);
        return unsigned.CopyWithPrivateKey(key);
    }

    /// <summary>The names a CA's name constraints permit; null when it has none (or they cannot be read).</summary>
    public static NodeNames? PermittedNames(X509Certificate2 authority)
    {
        ArgumentNullException.ThrowIfNull(authority);
        var extension = authority.Extensions[NameConstraintsOid];
        if (extension is null) return null;
        try
        {
            var dns = new List<string>();
            var ips = new List<IPAddress>();
            var outer = new AsnReader(extension.RawData, AsnEncodingRules.DER).ReadSequence();
            if (!outer.HasData || !outer.PeekTag().HasSameClassAndValue(Permitted)) return null;
            var subtrees = outer.ReadSequence(Permitted);
            while (subtrees.HasData)
            {
                var subtree = subtrees.ReadSequence();
                var tag = subtree.PeekTag();
                if (tag.HasSameClassAndValue(DnsNameTag)) dns.Add(subtree.ReadCharacterString(UniversalTagNumber.IA5String, DnsNameTag));
                else if (tag.HasSameClassAndValue(IpAddressTag))
                {
                    var bytes = subtree.ReadOctetString(IpAddressTag);
                    // address followed by a mask of the same length; only full-length masks are ever written here
                    if (bytes.Length is 8 or 32 && bytes.AsSpan(bytes.Length / 2).IndexOfAnyExcept((byte)0xFF) < 0)
                        ips.Add(new IPAddress(bytes.AsSpan(0, bytes.Length / 2)));
                    else return null;
                }
                else return null;
            }
            return NodeNames.Of(dns, ips);
        }
        catch (AsnContentException)
        {
            return null;
        }
    }

    /// <summary>The DNS names and addresses a certificate is valid for.</summary>
    public static NodeNames SubjectAlternativeNames(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var san = certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        return san is null ? NodeNames.Of([], []) : NodeNames.Of(san.EnumerateDnsNames(), san.EnumerateIPAddresses());
    }

    /// <summary>
    /// Whether <paramref name="leaf"/> is a valid server certificate under <paramref name="authority"/> at
    /// <paramref name="now"/> (signature, validity, key usage and the CA's name constraints, as a client checks it).
    /// </summary>
    public static bool Validates(X509Certificate2 leaf, X509Certificate2 authority, DateTimeOffset now, out string detail)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.VerificationTimeIgnored = false;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuthenticationOid));
        var ok = chain.Build(leaf);
        detail = ok ? "" : string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        return ok;
    }

    /// <summary>The DER of a name constraints extension that permits exactly <paramref name="names"/>.</summary>
    public static byte[] EncodeNameConstraints(NodeNames names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        using (writer.PushSequence(Permitted))
        {
            foreach (var dns in names.DnsNames)
                using (writer.PushSequence())
                    writer.WriteCharacterString(UniversalTagNumber.IA5String, dns, DnsNameTag);
            foreach (var ip in names.Addresses)
                using (writer.PushSequence())
                {
                    var address = ip.GetAddressBytes();
                    var mask = Enumerable.Repeat((byte)0xFF, address.Length);
                    writer.WriteOctetString([.. address, .. mask], IpAddressTag);
                }
        }
        return writer.Encode();
    }

    /// <summary>SHA-256 of the certificate, hex with colons (what <c>openssl x509 -fingerprint -sha256</c> prints).</summary>
    public static string Fingerprint(X509Certificate2 certificate) =>
        string.Join(':', certificate.GetCertHash(HashAlgorithmName.SHA256).Select(b => b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture)));

    /// <summary>A host name usable in a certificate subject: the machine's name, or "this host".</summary>
    public static string HostLabel(string? hostName) => string.IsNullOrWhiteSpace(hostName) || hostName.Any(char.IsControl) ? "this host" : hostName.Trim();

    private static X500DistinguishedName Subject(string commonName)
    {
        var builder = new X500DistinguishedNameBuilder();
        builder.AddOrganizationName("KruxOS");
        builder.AddCommonName(commonName.Length > 64 ? commonName[..64] : commonName);
        return builder.Build();
    }
}
