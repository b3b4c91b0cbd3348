using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace KruxOS.Core.Network;

/// <summary>
/// The ports a rule allows: the URL scheme's default port when none is written (<c>80</c> for http,
/// <c>443</c> for https), one port (<c>:8443</c>), a range (<c>:8000-8100</c>) or any port (<c>:*</c>).
/// </summary>
public readonly record struct PortSet
{
    private PortSet(int low, int high)
    {
        Low = low;
        High = high;
    }

    /// <summary>Only the scheme's default port.</summary>
    public static PortSet SchemeDefault { get; } = new(0, 0);

    /// <summary>Every port.</summary>
    public static PortSet Any { get; } = new(1, 65535);

    /// <summary>Lowest allowed port; 0 for <see cref="SchemeDefault"/>.</summary>
    public int Low { get; }

    /// <summary>Highest allowed port; 0 for <see cref="SchemeDefault"/>.</summary>
    public int High { get; }

    /// <summary>A single port or an inclusive range.</summary>
    public static PortSet Range(int low, int high) =>
        low is >= 1 and <= 65535 && high >= low && high <= 65535 ? new PortSet(low, high) : throw new ArgumentOutOfRangeException(nameof(low));

    /// <summary>Whether <paramref name="port"/> is allowed for a URL of <paramref name="scheme"/>.</summary>
    public bool Allows(int port, string scheme) =>
        Low == 0 ? port == DefaultPort(scheme) : port >= Low && port <= High;

    /// <summary>The default port of <c>http</c> (80) and <c>https</c> (443); -1 for anything else.</summary>
    public static int DefaultPort(string scheme) => scheme switch { "http" => 80, "https" => 443, _ => -1 };

    /// <summary>Parses the text after the colon: <c>443</c>, <c>8000-8100</c> or <c>*</c>.</summary>
    public static bool TryParse(string text, out PortSet ports, out string error)
    {
        ports = SchemeDefault;
        error = string.Empty;
        if (text == "*") { ports = Any; return true; }
        var dash = text.IndexOf('-');
        var lowText = dash < 0 ? text : text[..dash];
        var highText = dash < 0 ? text : text[(dash + 1)..];
        if (!TryPort(lowText, out var low) || !TryPort(highText, out var high))
        {
            error = $"'{text}' is not a port: use a number from 1 to 65535, a range 'low-high' or '*'";
            return false;
        }
        if (high < low) { error = $"the port range '{text}' is empty"; return false; }
        ports = new PortSet(low, high);
        return true;
    }

    private static bool TryPort(string text, out int port) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is >= 1 and <= 65535 && text.Length <= 5;

    /// <summary>The suffix as written in a rule: empty, <c>:443</c>, <c>:8000-8100</c> or <c>:*</c>.</summary>
    public override string ToString() =>
        Low == 0 ? string.Empty
        : Low == 1 && High == 65535 ? ":*"
        : Low == High ? ":" + Low.ToString(CultureInfo.InvariantCulture)
        : $":{Low.ToString(CultureInfo.InvariantCulture)}-{High.ToString(CultureInfo.InvariantCulture)}";
}

/// <summary>An entry of <c>network.allowed_domains</c>: a host pattern and the ports it allows.</summary>
public sealed record DomainRule(HostPattern Host, PortSet Ports)
{
    /// <summary>Parses <c>host[:ports]</c>, <c>*.suffix[:ports]</c> or <c>*[:ports]</c>. Addresses belong in <c>allowed_addresses</c>.</summary>
    public static bool TryParse(string? text, out DomainRule rule, out string error)
    {
        rule = new DomainRule(HostPattern.Any, PortSet.SchemeDefault);
        var t = text?.Trim() ?? string.Empty;
        if (t.Length == 0) { error = "the domain is empty"; return false; }
        if (t.Contains("://", StringComparison.Ordinal) || t.Contains('/')) { error = $"'{t}' is a URL or path; write only the host, e.g. 'api.example.com'"; return false; }
        if (t.StartsWith('[') || t.Count(c => c == ':') > 1)
        {
            error = $"'{t}' is an address; list addresses under network.allowed_addresses";
            return false;
        }
        var ports = PortSet.SchemeDefault;
        var colon = t.LastIndexOf(':');
        if (colon >= 0)
        {
            if (!PortSet.TryParse(t[(colon + 1)..], out ports, out error)) return false;
            t = t[..colon];
        }
        if (!HostPattern.TryParse(t, out var host, out error)) return false;
        if (host.Kind == HostPatternKind.Exact && host.HostKind != HostKind.Dns)
        {
            error = $"'{t}' is an address; list addresses under network.allowed_addresses";
            return false;
        }
        rule = new DomainRule(host, ports);
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => Host + Ports.ToString();
}

/// <summary>
/// An entry of <c>network.allowed_addresses</c>: an address or CIDR block and the ports it allows. It lets a
/// URL name an address directly, and it is the only way to reach a non-public address (loopback, private,
/// link-local, …), and then only when the rule is no broader than that address's special-purpose block.
/// </summary>
public sealed record AddressRule(IPNetwork Network, PortSet Ports)
{
    /// <summary>
    /// Parses <c>10.0.0.5</c>, <c>10.0.0.0/8</c>, <c>10.0.0.0/8:443</c>, <c>::1</c>, <c>fd00::/8</c>,
    /// <c>[::1]:8080</c> or <c>[fd00::/8]:443</c>. IPv4-mapped IPv6 and blocks with host bits set are refused.
    /// </summary>
    public static bool TryParse(string? text, out AddressRule rule, out string error)
    {
        rule = new AddressRule(new IPNetwork(IPAddress.Any, 0), PortSet.SchemeDefault);
        error = string.Empty;
        var t = text?.Trim() ?? string.Empty;
        if (t.Length == 0) { error = "the address is empty"; return false; }
        var ports = PortSet.SchemeDefault;
        string network;
        if (t.StartsWith('['))
        {
            var close = t.IndexOf(']');
            if (close < 0) { error = $"'{t}': missing ']'"; return false; }
            network = t[1..close];
            var rest = t[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':') { error = $"'{t}': expected ':port' after ']'"; return false; }
                if (!PortSet.TryParse(rest[1..], out ports, out error)) return false;
            }
        }
        else if (t.Count(c => c == ':') > 1) network = t; // bare IPv6, no port
        else
        {
            var colon = t.IndexOf(':');
            network = colon < 0 ? t : t[..colon];
            if (colon >= 0 && !PortSet.TryParse(t[(colon + 1)..], out ports, out error)) return false;
        }

        var slash = network.IndexOf('/');
        var addressText = slash < 0 ? network : network[..slash];
        IPAddress address;
        if (addressText.Contains(':'))
        {
            if (addressText.Contains('%') || !IPAddress.TryParse(addressText, out address!) || address.AddressFamily != AddressFamily.InterNetworkV6)
            {
                error = $"'{addressText}' is not an IPv6 address";
                return false;
            }
            if (address.IsIPv4MappedToIPv6) { error = $"'{addressText}' is an IPv4-mapped address: write the IPv4 form"; return false; }
        }
        else if (!HostNames.TryDottedQuad(addressText, out address))
        {
            error = $"'{addressText}' is not an address (IPv4 as four decimal octets, or IPv6)";
            return false;
        }
        var max = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = max;
        if (slash >= 0)
        {
            var prefixText = network[(slash + 1)..];
            if (!int.TryParse(prefixText, NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > max || prefixText.Length > 3)
            {
                error = $"'{network}': the prefix length must be 0 to {max}";
                return false;
            }
        }
        var block = new IPNetwork(Masked(address, prefix), prefix);
        if (!block.BaseAddress.Equals(address))
        {
            error = $"'{network}' has bits set beyond its prefix; did you mean {block}?";
            return false;
        }
        rule = new AddressRule(block, ports);
        return true;
    }

    /// <summary>True when the rule covers the address (IPv4-mapped IPv6 is compared as IPv4).</summary>
    public bool Contains(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        return address.AddressFamily == Network.BaseAddress.AddressFamily && Network.Contains(address);
    }

    /// <summary>
    /// True when the rule opens the classified address on <paramref name="port"/>: it covers the address and the
    /// port, and, for a non-public address, it is no broader than the address's special-purpose block.
    /// </summary>
    public bool Opens(AddressClassification address, int port, string scheme) =>
        Ports.Allows(port, scheme) && Contains(address.Address)
        && (address.IsPublic || Network.PrefixLength >= address.Block.PrefixLength);

    private static IPAddress Masked(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var i = 0; i < bytes.Length; i++)
        {
            var keep = Math.Clamp(prefix - i * 8, 0, 8);
            bytes[i] &= (byte)(0xFF << (8 - keep));
        }
        return new IPAddress(bytes);
    }

    /// <inheritdoc />
    public override string ToString()
    {
        var net = Network.PrefixLength == (Network.BaseAddress.AddressFamily == AddressFamily.InterNetwork ? 32 : 128)
            ? Network.BaseAddress.ToString() : Network.ToString();
        var ports = Ports.ToString();
        return ports.Length > 0 && Network.BaseAddress.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{net}]{ports}" : net + ports;
    }
}

/// <summary>
/// The <c>network</c> section of one policy file: the destinations this layer allows. A file that declares the
/// section takes part in every egress decision of the principals it applies to (ADR 0034).
/// </summary>
/// <param name="Source">The policy file (<c>org.yaml</c>, <c>agents/bot.yaml</c>).</param>
/// <param name="Domains"><c>allowed_domains</c>.</param>
/// <param name="Addresses"><c>allowed_addresses</c>.</param>
public sealed record NetworkAllowlist(string Source, ImmutableArray<DomainRule> Domains, ImmutableArray<AddressRule> Addresses)
{
    /// <summary>Content equality.</summary>
    public bool Equals(NetworkAllowlist? other) =>
        other is not null && Source == other.Source && Domains.SequenceEqual(other.Domains) && Addresses.SequenceEqual(other.Addresses);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Source, Domains.Length, Addresses.Length);
}

/// <summary>
/// The egress allowlist of a principal: one <see cref="NetworkAllowlist"/> per layer that declares a
/// <c>network</c> section (system, org, the principal's own file). A destination is allowed only when at least
/// one layer declares the section and <b>every</b> declaring layer allows it: deny by default, most
/// restrictive layer wins.
/// </summary>
public sealed record EgressAllowlist(ImmutableArray<NetworkAllowlist> Layers)
{
    /// <summary>No layer declares a <c>network</c> section: nothing is allowed.</summary>
    public static readonly EgressAllowlist None = new(ImmutableArray<NetworkAllowlist>.Empty);

    /// <summary>Content equality.</summary>
    public bool Equals(EgressAllowlist? other) => other is not null && Layers.SequenceEqual(other.Layers);

    /// <inheritdoc />
    public override int GetHashCode() => Layers.Length;
}
