using System.Net;
using System.Net.Sockets;

namespace KruxOS.Core.Network;

/// <summary>
/// What an address is, for server-side request forgery checks. Everything but <see cref="Public"/> is refused
/// as an egress destination unless an explicit <c>network.allowed_addresses</c> rule allows it (ADR 0034).
/// </summary>
public enum AddressClass
{
    /// <summary>A globally routed unicast address.</summary>
    Public,
    /// <summary><c>0.0.0.0/8</c>, <c>::</c>: "this host"; connecting to it reaches the local machine.</summary>
    Unspecified,
    /// <summary><c>127.0.0.0/8</c>, <c>::1</c>.</summary>
    Loopback,
    /// <summary>RFC 1918 (<c>10/8</c>, <c>172.16/12</c>, <c>192.168/16</c>), unique local <c>fc00::/7</c>, site-local <c>fec0::/10</c>.</summary>
    Private,
    /// <summary><c>169.254.0.0/16</c>, <c>fe80::/10</c>.</summary>
    LinkLocal,
    /// <summary>Shared address space for carrier-grade NAT, <c>100.64.0.0/10</c>.</summary>
    SharedCgnat,
    /// <summary>A cloud provider's instance metadata or host service (<c>169.254.169.254</c>, <c>fd00:ec2::254</c>, …).</summary>
    CloudMetadata,
    /// <summary><c>224.0.0.0/4</c>, <c>ff00::/8</c>.</summary>
    Multicast,
    /// <summary><c>255.255.255.255</c>.</summary>
    Broadcast,
    /// <summary>Documentation, benchmarking, protocol-assignment, reserved and unallocated ranges, and IPv6 transition forms with no public meaning here.</summary>
    Reserved,
}

/// <summary>The class of an address and the special-purpose block it was found in.</summary>
/// <param name="Class">What the address is.</param>
/// <param name="Block">
/// The block that gives the class (for <see cref="AddressClass.Public"/> the whole address family). A rule in
/// <c>network.allowed_addresses</c> can open a non-public address only when the rule is no broader than this
/// block: <c>10.0.0.0/8</c> opens <c>10.1.2.3</c>, <c>0.0.0.0/0</c> does not, and a metadata address needs a
/// rule naming exactly that address.
/// </param>
/// <param name="Address">The address as classified: IPv4-mapped IPv6 addresses are turned into IPv4.</param>
public sealed record AddressClassification(AddressClass Class, IPNetwork Block, IPAddress Address)
{
    /// <summary>True for <see cref="AddressClass.Public"/>.</summary>
    public bool IsPublic => Class == AddressClass.Public;
}

/// <summary>Classifies IPv4 and IPv6 addresses (RFC 6890 special-purpose registries, plus cloud metadata endpoints).</summary>
public static class AddressClassifier
{
    // Order matters: the first block containing the address decides, so specific entries come first.
    private static readonly (IPNetwork Block, AddressClass Class)[] V4 =
    [
        (Net("169.254.169.254/32"), AddressClass.CloudMetadata), // AWS, GCP, Azure, OCI, DigitalOcean, … instance metadata
        (Net("169.254.170.2/32"), AddressClass.CloudMetadata),   // AWS ECS task metadata / credentials
        (Net("169.254.170.23/32"), AddressClass.CloudMetadata),  // AWS EKS pod identity agent
        (Net("100.100.100.200/32"), AddressClass.CloudMetadata), // Alibaba Cloud metadata
        (Net("168.63.129.16/32"), AddressClass.CloudMetadata),   // Azure WireServer (a public address reachable only from VMs)
        (Net("0.0.0.0/8"), AddressClass.Unspecified),
        (Net("10.0.0.0/8"), AddressClass.Private),
        (Net("100.64.0.0/10"), AddressClass.SharedCgnat),
        (Net("127.0.0.0/8"), AddressClass.Loopback),
        (Net("169.254.0.0/16"), AddressClass.LinkLocal),
        (Net("172.16.0.0/12"), AddressClass.Private),
        (Net("192.0.0.0/24"), AddressClass.Reserved),            // IETF protocol assignments
        (Net("192.0.2.0/24"), AddressClass.Reserved),            // documentation (TEST-NET-1)
        (Net("192.88.99.0/24"), AddressClass.Reserved),          // 6to4 relay anycast (deprecated)
        (Net("192.168.0.0/16"), AddressClass.Private),
        (Net("198.18.0.0/15"), AddressClass.Reserved),           // benchmarking
        (Net("198.51.100.0/24"), AddressClass.Reserved),         // documentation (TEST-NET-2)
        (Net("203.0.113.0/24"), AddressClass.Reserved),          // documentation (TEST-NET-3)
        (Net("224.0.0.0/4"), AddressClass.Multicast),
        (Net("255.255.255.255/32"), AddressClass.Broadcast),
        (Net("240.0.0.0/4"), AddressClass.Reserved),
    ];

    private static readonly (IPNetwork Block, AddressClass Class)[] V6 =
    [
        (Net("fd00:ec2::254/128"), AddressClass.CloudMetadata),  // AWS instance metadata over IPv6
        (Net("fd00:ec2::23/128"), AddressClass.CloudMetadata),   // AWS EKS pod identity agent over IPv6
        (Net("::/128"), AddressClass.Unspecified),
        (Net("::1/128"), AddressClass.Loopback),
        (Net("::/96"), AddressClass.Reserved),                   // IPv4-compatible (deprecated)
        (Net("64:ff9b:1::/48"), AddressClass.Reserved),          // local-use NAT64
        (Net("100::/64"), AddressClass.Reserved),                // discard-only
        (Net("2001::/23"), AddressClass.Reserved),               // IETF protocol assignments (Teredo, benchmarking, ORCHID, …)
        (Net("2001:db8::/32"), AddressClass.Reserved),           // documentation
        (Net("3fff::/20"), AddressClass.Reserved),               // documentation
        (Net("fc00::/7"), AddressClass.Private),
        (Net("fe80::/10"), AddressClass.LinkLocal),
        (Net("fec0::/10"), AddressClass.Private),                // site-local (deprecated)
        (Net("ff00::/8"), AddressClass.Multicast),
    ];

    private static readonly IPNetwork Nat64 = Net("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = Net("2002::/16");
    private static readonly IPNetwork GlobalUnicast = Net("2000::/3");
    private static readonly IPNetwork AllV4 = Net("0.0.0.0/0");
    private static readonly IPNetwork AllV6 = Net("::/0");

    /// <summary>Classifies an address. IPv4-mapped IPv6 is classified (and returned) as IPv4; NAT64 and 6to4 addresses by the IPv4 address they carry.</summary>
    public static AddressClassification Classify(IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            foreach (var (block, cls) in V4)
                if (block.Contains(address)) return new(cls, block, address);
            return new(AddressClass.Public, AllV4, address);
        }
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
            return new(AddressClass.Reserved, AllV6, address);

        // Strip a scope id: it does not change what the address is.
        if (address.ScopeId != 0) address = new IPAddress(address.GetAddressBytes());
        foreach (var (block, cls) in V6)
            if (block.Contains(address)) return new(cls, block, address);
        // Translation prefixes carry an IPv4 address: they are what that address is, within a block as narrow
        // as the IPv4 block (so 64:ff9b::/96 as a rule does not open 64:ff9b::a00:1, that is 10.0.0.1).
        if (Nat64.Contains(address)) return Embedded(address, Nat64, 12);
        if (SixToFour.Contains(address)) return Embedded(address, SixToFour, 2);
        return GlobalUnicast.Contains(address)
            ? new(AddressClass.Public, AllV6, address)
            : new(AddressClass.Reserved, AllV6, address);
    }

    private static AddressClassification Embedded(IPAddress address, IPNetwork prefix, int offset)
    {
        var bytes = address.GetAddressBytes();
        var v4 = Classify(new IPAddress(bytes.AsSpan(offset, 4)));
        if (v4.IsPublic) return new(AddressClass.Public, AllV6, address);
        // The block in IPv6 terms: the translation prefix followed by the IPv4 block.
        var blockBytes = new byte[16];
        prefix.BaseAddress.GetAddressBytes().CopyTo(blockBytes, 0);
        v4.Block.BaseAddress.GetAddressBytes().CopyTo(blockBytes, offset);
        var length = offset * 8 + v4.Block.PrefixLength;
        return new(v4.Class, new IPNetwork(new IPAddress(blockBytes), length), address);
    }

    private static IPNetwork Net(string cidr) => IPNetwork.Parse(cidr);
}
