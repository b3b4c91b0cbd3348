using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using KruxOS.Core.Tls;

namespace KruxOS.Bridge;

/// <summary>
/// How the bridge checks a <c>wss://</c> gateway's certificate (ADR 0025). Always: the host name in the URL must be
/// one of the certificate's names, and the certificate must be valid now for server authentication. Trusted are
/// the system trust store and, besides it, either the CA bundle in <c>KRUXOS_CA_CERT</c> (when set: only that) or
/// the CA of a gateway on this host, found where that gateway publishes it (<see cref="GatewayTrust.LocalAuthorities"/>)
/// — so on the gateway's own host <c>wss://localhost:7700</c> works with no setting. A local CA file that other
/// users could modify is not trusted. There is no way to switch verification off.
/// </summary>
public sealed class ServerCertificateTrust
{
    private const string ServerAuthentication = "1.3.6.1.5.5.7.3.1";

    private ServerCertificateTrust(X509Certificate2Collection anchors, string description, bool explicitBundle)
    {
        Anchors = anchors;
        Description = description;
        Explicit = explicitBundle;
    }

    /// <summary>The CAs trusted besides the system store.</summary>
    public X509Certificate2Collection Anchors { get; }

    /// <summary>What is trusted, for messages (paths, never certificate contents).</summary>
    public string Description { get; }

    /// <summary>Whether the anchors come from <c>KRUXOS_CA_CERT</c>.</summary>
    public bool Explicit { get; }

    /// <summary>The outcome of resolving: the trust, or why <c>KRUXOS_CA_CERT</c> cannot be used (exit 1).</summary>
    public sealed record Resolution(ServerCertificateTrust? Trust, string? Error);

    /// <summary>Resolves from this process's environment and files.</summary>
    public static Resolution FromEnvironment() =>
        Resolve(Environment.GetEnvironmentVariable, Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ReadIfSafe);

    /// <summary>
    /// Resolves the trust. <paramref name="readTrusted"/> returns a file's text, or null when it is absent, unreadable
    /// or writable by other users; it is used for the local candidates only. <c>KRUXOS_CA_CERT</c> is read as given,
    /// and a file there that cannot be read or holds no certificate is an error: an explicit setting never falls back.
    /// </summary>
    public static Resolution Resolve(Func<string, string?> environment, string home, Func<string, string?> readTrusted)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(readTrusted);
        if (environment(GatewayTrust.CaCertVariable) is { Length: > 0 } explicitPath)
        {
            var bundle = new X509Certificate2Collection();
            try
            {
                bundle.ImportFromPem(File.ReadAllText(explicitPath));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
            {
                return new(null, $"{GatewayTrust.CaCertVariable}={explicitPath} cannot be read: {e.Message}");
            }
            if (bundle.Count == 0) return new(null, $"{GatewayTrust.CaCertVariable}={explicitPath} holds no PEM certificate");
            return new(new ServerCertificateTrust(bundle, $"the system trust store and {GatewayTrust.CaCertVariable}={explicitPath}", true), null);
        }
        var anchors = new X509Certificate2Collection();
        var found = new List<string>();
        foreach (var candidate in GatewayTrust.LocalAuthorities(environment, readTrusted, home))
        {
            if (readTrusted(candidate.Path) is not { } pem) continue;
            var certificates = new X509Certificate2Collection();
            try { certificates.ImportFromPem(pem); }
            catch (CryptographicException) { continue; }
            var authorities = certificates.Where(IsAuthority).ToList();
            if (authorities.Count == 0) continue;
            foreach (var ca in authorities)
                if (!anchors.Any(a => a.Thumbprint == ca.Thumbprint)) anchors.Add(ca);
            found.Add(candidate.Path);
        }
        var description = found.Count == 0
            ? "the system trust store (no local gateway CA was found; set KRUXOS_CA_CERT to the gateway's ca.crt)"
            : $"the system trust store and the local gateway CA ({string.Join(", ", found)})";
        return new(new ServerCertificateTrust(anchors, description, false), null);
    }

    /// <summary>
    /// The TLS check. <paramref name="failure"/> says, for the log and exit message, why a certificate was refused.
    /// </summary>
    public bool Validate(X509Certificate? certificate, X509Chain? presented, SslPolicyErrors errors, string host, DateTimeOffset now, out string failure)
    {
        failure = "";
        if (errors == SslPolicyErrors.None) return true;
        if (certificate is null || errors.HasFlag(SslPolicyErrors.RemoteCertificateNotAvailable))
        {
            failure = "the gateway presented no certificate";
            return false;
        }
        using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        if (errors.HasFlag(SslPolicyErrors.RemoteCertificateNameMismatch))
        {
            failure = $"the gateway's certificate is not valid for '{host}' (it is for {Names(leaf)}); connect with one of those names";
            return false;
        }
        const string hint = " (for a gateway on another machine, copy its ca.crt here and set KRUXOS_CA_CERT to it: docs/tls.md)";
        if (Anchors.Count == 0)
        {
            failure = $"the gateway's certificate ({leaf.Subject}) is not trusted by {Description}" + (Explicit ? "" : hint);
            return false;
        }
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Anchors);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now.UtcDateTime;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid(ServerAuthentication));
        if (presented is not null)
            foreach (var element in presented.ChainElements.Skip(1))
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
        if (chain.Build(leaf)) return true;
        var why = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
        failure = $"the gateway's certificate ({leaf.Subject}) is not trusted by {Description}: {why}" + (Explicit ? "" : hint);
        return false;
    }

    private static bool IsAuthority(X509Certificate2 c) =>
        c.Extensions.OfType<X509BasicConstraintsExtension>().FirstOrDefault() is { CertificateAuthority: true };

    private static string Names(X509Certificate2 leaf)
    {
        var san = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        if (san is null) return "no names";
        var names = san.EnumerateDnsNames().Concat(san.EnumerateIPAddresses().Select(a => a.ToString())).ToList();
        return names.Count == 0 ? "no names" : string.Join(", ", names);
    }

    /// <summary>A local CA file's text, when it exists, is readable, and neither it nor its directory can be changed by other users.</summary>
    internal static string? ReadIfSafe(string path)
    {
        try
        {
            if (!File.Exists(path)) return null;
            if (!OperatingSystem.IsWindows())
            {
                const UnixFileMode othersWrite = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;
                if ((File.GetUnixFileMode(path) & othersWrite) != 0) return null;
                var dir = Path.GetDirectoryName(path);
                if (dir is not null && (File.GetUnixFileMode(dir) is var d) && (d & othersWrite) != 0 && (d & UnixFileMode.StickyBit) == 0) return null;
            }
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
