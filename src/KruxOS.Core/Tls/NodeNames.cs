using System.Collections.Immutable;
using System.Net;

namespace KruxOS.Core.Tls;

/// <summary>
/// The names a node certificate is issued for (its subject alternative names) and, for a generated
/// authority, the only names that authority may ever sign for (its name constraints). DNS names are
/// lower-case and sorted; addresses are sorted by their bytes; both are without duplicates.
/// </summary>
public sealed record NodeNames
{
    /// <summary>Always present: a client on the node itself can reach it by any of these.</summary>
    public static readonly NodeNames Loopback = new(["localhost"], [IPAddress.Loopback, IPAddress.IPv6Loopback]);

    private NodeNames(IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses)
    {
        DnsNames = [.. dnsNames.Select(n => n.ToLowerInvariant()).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
        Addresses = [.. addresses.Select(Normalize).DistinctBy(a => a.ToString()).OrderBy(a => a.AddressFamily).ThenBy(a => Convert.ToHexString(a.GetAddressBytes()), StringComparer.Ordinal)];
    }

    /// <summary>DNS names, lower-case, sorted.</summary>
    public ImmutableArray<string> DnsNames { get; }

    /// <summary>IP addresses, sorted.</summary>
    public ImmutableArray<IPAddress> Addresses { get; }

    /// <summary>Builds a set from names that are already known to be valid (e.g. read back from a certificate).</summary>
    public static NodeNames Of(IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses) => new(dnsNames, addresses);

    /// <summary>
    /// The names of this node: <see cref="Loopback"/>, the host name (when it is a valid DNS name), the bind
    /// address when it is a specific non-loopback one, and every configured name. A configured value that is
    /// neither a DNS host name nor an IP address is reported in <paramref name="rejected"/> (the caller refuses
    /// to start); wildcards are not accepted.
    /// </summary>
    public static NodeNames ForNode(string? hostName, string bind, IEnumerable<string> configured, out IReadOnlyList<string> rejected)
    {
        var dns = new List<string>(Loopback.DnsNames);
        var ips = new List<IPAddress>(Loopback.Addresses);
        if (hostName is not null && IsDnsName(hostName)) dns.Add(hostName);
        if (IPAddress.TryParse(bind, out var bound) && !IPAddress.IsLoopback(bound) && !bound.Equals(IPAddress.Any) && !bound.Equals(IPAddress.IPv6Any))
            ips.Add(bound);
        var bad = new List<string>();
        foreach (var raw in configured)
        {
            var name = raw.Trim();
            if (IPAddress.TryParse(name, out var ip) && !name.Contains('%', StringComparison.Ordinal)) ips.Add(ip);
            else if (IsDnsName(name)) dns.Add(name);
            else bad.Add(raw);
        }
        rejected = bad;
        return new NodeNames(dns, ips);
    }

    /// <summary>
    /// True for a DNS host name: dot-separated labels of letters, digits and inner hyphens, 1–63 characters
    /// each, at most 253 in all, not all-numeric in the last label (that would be an address).
    /// </summary>
    public static bool IsDnsName(string name)
    {
        if (name.Length is 0 or > 253 || name.EndsWith('.')) return false;
        var labels = name.Split('.');
        foreach (var label in labels)
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-') return false;
            foreach (var c in label)
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-')) return false;
        }
        return !labels[^1].All(char.IsAsciiDigit);
    }

    /// <summary>Whether every name of this set is also in <paramref name="other"/>.</summary>
    public bool IsSubsetOf(NodeNames other) =>
        DnsNames.All(n => other.DnsNames.Contains(n, StringComparer.Ordinal))
        && Addresses.All(a => other.Addresses.Any(b => b.Equals(a)));

    /// <summary>Same names, in any order.</summary>
    public bool SameAs(NodeNames other) => IsSubsetOf(other) && other.IsSubsetOf(this);

    /// <summary>For logs and status: the names, comma-separated.</summary>
    public override string ToString() =>
        string.Join(", ", DnsNames.Concat(Addresses.Select(a => a.ToString())));

    /// <summary>An IPv4-mapped IPv6 address is the IPv4 address; scope ids are dropped.</summary>
    private static IPAddress Normalize(IPAddress a)
    {
        if (a.IsIPv4MappedToIPv6) return a.MapToIPv4();
        return a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && a.ScopeId != 0
            ? new IPAddress(a.GetAddressBytes())
            : a;
    }
}
