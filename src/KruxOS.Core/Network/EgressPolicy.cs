using System.Collections.Immutable;
using System.Net;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Network;

/// <summary>A parsed, normalised destination URL.</summary>
/// <param name="Uri">The URL the request is made with (the same object that was checked; never parse the text again).</param>
/// <param name="Scheme"><c>http</c> or <c>https</c>.</param>
/// <param name="Host">The normalised host (<see cref="HostNames"/>): what allowlists and the TLS server name use.</param>
/// <param name="HostKind">Whether the URL names a DNS name or an address.</param>
/// <param name="Port">The port (the scheme's default when the URL gives none).</param>
public sealed record EgressTarget(Uri Uri, string Scheme, string Host, HostKind HostKind, int Port)
{
    /// <summary>For a URL that names an address, that address; otherwise null (the name must be resolved).</summary>
    public IPAddress? Literal => HostKind == HostKind.Dns ? null : IPAddress.Parse(Host);

    /// <summary><c>scheme://host:port</c>: what a credential is bound to across redirects.</summary>
    public string Origin => $"{Scheme}://{(HostKind == HostKind.IPv6 ? "[" + Host + "]" : Host)}:{Port}";
}

/// <summary>Why an egress decision refused a destination.</summary>
public enum EgressRefusal
{
    /// <summary>The URL is malformed or uses something other than http(s) (<c>InvalidUrl</c>).</summary>
    InvalidUrl,
    /// <summary>The policy does not allow the destination (<c>DomainNotAllowed</c>).</summary>
    DomainNotAllowed,
    /// <summary>The name resolved to no address at all (a resolution failure, not a policy refusal).</summary>
    NoAddress,
}

/// <summary>
/// The outcome of an egress check. When allowed, <see cref="ConnectTo"/> is the one address the caller may
/// connect to: the checked one, so no second resolution can swap it (DNS rebinding). It is null only for a
/// name that passed <see cref="EgressPolicy.CheckName"/> and still has to be resolved and decided.
/// </summary>
public sealed record EgressDecision(bool Allowed, EgressTarget? Target, IPEndPoint? ConnectTo, EgressRefusal? Refusal, string Reason)
{
    internal static EgressDecision Allow(EgressTarget target, IPEndPoint endpoint, string reason) => new(true, target, endpoint, null, reason);
    internal static EgressDecision Refuse(EgressRefusal refusal, EgressTarget? target, string reason) => new(false, target, null, refusal, reason);

    /// <summary>True when nothing is left to check: refused, or allowed with the address to connect to.</summary>
    public bool IsFinal => !Allowed || ConnectTo is not null;

    /// <summary>The error an agent gets for a refusal (<c>InvalidUrl</c>, <c>DomainNotAllowed</c> or <c>RequestFailed</c>).</summary>
    public StructuredError ToError() => Refusal switch
    {
        null => throw new InvalidOperationException("an allowed decision has no error"),
        EgressRefusal.InvalidUrl => NetworkErrors.InvalidUrl(Reason),
        EgressRefusal.DomainNotAllowed => NetworkErrors.DomainNotAllowed(Target?.Host ?? "?", Reason),
        _ => NetworkErrors.RequestFailed(Reason),
    };
}

/// <summary>
/// Egress decisions as pure functions (ADR 0034): parse the URL, check the name against every declaring layer
/// before anything is resolved (so a refused name is not even looked up), then check every resolved address
/// and pick the one to connect to. Deny by default; a non-public address (loopback, private, link-local,
/// CGNAT, cloud metadata, unspecified, multicast, broadcast, reserved, and the IPv4-mapped and translated
/// forms of each) only through an explicit <c>allowed_addresses</c> rule in every declaring layer.
/// </summary>
public static class EgressPolicy
{
    /// <summary>The longest URL accepted.</summary>
    public const int MaxUrlLength = 8192;

    // Names of metadata services that resolve to a metadata address: refused by name as well, unless a layer
    // lists the exact name (and then the address still needs its exact allowed_addresses rule).
    private static readonly ImmutableHashSet<string> MetadataNames =
        ImmutableHashSet.Create(StringComparer.Ordinal, "metadata.google.internal", "metadata.goog", "metadata.azure.internal", "instance-data.ec2.internal");

    /// <summary>Parses and normalises a destination URL; a refusal with <see cref="EgressRefusal.InvalidUrl"/> when it is not a usable http(s) URL.</summary>
    public static bool TryParseTarget(string? url, out EgressTarget target, out EgressDecision refusal)
    {
        target = null!;
        refusal = null!;
        string? why = null;
        Uri? uri = null;
        if (string.IsNullOrEmpty(url)) why = "the URL is empty";
        else if (url.Length > MaxUrlLength) why = $"the URL is longer than {MaxUrlLength} characters";
        else if (url.Any(c => char.IsControl(c) || char.IsWhiteSpace(c))) why = "the URL contains whitespace or control characters";
        else if (!Uri.TryCreate(url, UriKind.Absolute, out uri)) why = "the URL is not an absolute URL";
        else if (uri.Scheme is not ("http" or "https")) why = $"the scheme '{uri.Scheme}' is not allowed: use http or https";
        else if (uri.UserInfo.Length > 0) why = "credentials in the URL are not allowed: send them in a header";
        else if (uri.HostNameType is not (UriHostNameType.Dns or UriHostNameType.IPv4 or UriHostNameType.IPv6)) why = "the URL has no usable host";
        else if (uri.Port is < 1 or > 65535) why = "the port must be from 1 to 65535";
        if (why is null)
        {
            if (HostNames.TryNormalize(uri!.IdnHost, out var host, out var kind, out var hostError))
            {
                target = new EgressTarget(uri, uri.Scheme, host, kind, uri.Port);
                return true;
            }
            why = hostError;
        }
        refusal = EgressDecision.Refuse(EgressRefusal.InvalidUrl, null, why!);
        return false;
    }

    /// <summary>
    /// The check before resolution: is the URL's host and port allowed by every declaring layer? For a URL that
    /// names an address this is the whole decision (no resolution is needed). Call it before resolving a name, so
    /// that a refused name is never looked up; an allowed name comes back with no <see cref="EgressDecision.ConnectTo"/>.
    /// </summary>
    public static EgressDecision CheckName(EgressTarget target, EgressAllowlist allowlist)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(allowlist);
        if (allowlist.Layers.IsDefaultOrEmpty)
            return EgressDecision.Refuse(EgressRefusal.DomainNotAllowed, target,
                $"no policy declares a network section, so no destination is allowed (deny by default)");

        if (target.Literal is { } literal)
            return CheckAddresses(target, [literal], allowlist);

        foreach (var layer in allowlist.Layers)
        {
            var hostMatched = false;
            var allowed = false;
            foreach (var rule in layer.Domains)
            {
                if (!rule.Host.Matches(target.Host, HostKind.Dns)) continue;
                if (MetadataNames.Contains(target.Host) && rule.Host.Kind != HostPatternKind.Exact) continue;
                hostMatched = true;
                if (rule.Ports.Allows(target.Port, target.Scheme)) { allowed = true; break; }
            }
            if (allowed) continue;
            var reason = hostMatched
                ? $"port {target.Port} of '{target.Host}' is not allowed by {layer.Source} (a rule without a port allows only the scheme's default port; add '{target.Host}:{target.Port}')"
                : MetadataNames.Contains(target.Host)
                    ? $"'{target.Host}' is a cloud metadata service; {layer.Source} must list it by its exact name"
                    : $"'{target.Host}' is not in network.allowed_domains of {layer.Source}";
            return EgressDecision.Refuse(EgressRefusal.DomainNotAllowed, target, reason);
        }
        return new EgressDecision(true, target, null, null, "the name is allowed; resolve it and decide its addresses");
    }

    /// <summary>
    /// The check before a name lookup (<c>network.dns_lookup</c>): a lookup sends the name to the resolver and nothing
    /// else, so ports do not matter, but the name itself must be allowed by a domain rule of every declaring layer (a
    /// refused name is never resolved: no exfiltration through DNS queries). Metadata names pass only a rule naming
    /// them exactly. Null when allowed, else the reason.
    /// </summary>
    public static string? CheckLookup(string normalizedHost, EgressAllowlist allowlist)
    {
        ArgumentNullException.ThrowIfNull(normalizedHost);
        ArgumentNullException.ThrowIfNull(allowlist);
        if (allowlist.Layers.IsDefaultOrEmpty)
            return "no policy declares a network section, so no name may be looked up (deny by default)";
        foreach (var layer in allowlist.Layers)
        {
            var allowed = false;
            foreach (var rule in layer.Domains)
            {
                if (!rule.Host.Matches(normalizedHost, HostKind.Dns)) continue;
                if (MetadataNames.Contains(normalizedHost) && rule.Host.Kind != HostPatternKind.Exact) continue;
                allowed = true;
                break;
            }
            if (!allowed) return $"'{normalizedHost}' is not in network.allowed_domains of {layer.Source}";
        }
        return null;
    }

    /// <summary>
    /// The full decision for a target whose name passed <see cref="CheckName"/>: every resolved address must be
    /// public, or opened by an explicit <c>allowed_addresses</c> rule in every declaring layer. A name with any
    /// refused address is refused as a whole (a mixed answer is what a rebinding attack looks like). Returns the
    /// first address, in resolver order, as the one to connect to. For an address URL, <paramref name="resolved"/>
    /// is ignored.
    /// </summary>
    public static EgressDecision Decide(EgressTarget target, IReadOnlyList<IPAddress> resolved, EgressAllowlist allowlist)
    {
        ArgumentNullException.ThrowIfNull(resolved);
        var byName = CheckName(target, allowlist);
        if (!byName.Allowed || target.Literal is not null) return byName;
        return CheckAddresses(target, resolved, allowlist);
    }

    /// <summary>Parses <paramref name="url"/> and decides it against the resolved addresses of its host.</summary>
    public static EgressDecision Decide(string url, IReadOnlyList<IPAddress> resolved, EgressAllowlist allowlist) =>
        TryParseTarget(url, out var target, out var refusal) ? Decide(target, resolved, allowlist) : refusal;

    private static EgressDecision CheckAddresses(EgressTarget target, IReadOnlyList<IPAddress> addresses, EgressAllowlist allowlist)
    {
        if (addresses.Count == 0)
            return EgressDecision.Refuse(EgressRefusal.NoAddress, target, $"'{target.Host}' did not resolve to any address");
        IPAddress? first = null;
        foreach (var raw in addresses)
        {
            var address = AddressClassifier.Classify(raw);
            foreach (var layer in allowlist.Layers)
            {
                // A public address reached by a name the layer allowed needs no address rule; a public address
                // named in the URL, and every non-public address, need a rule of this layer that opens it.
                if (address.IsPublic && target.Literal is null) continue;
                var opened = false;
                foreach (var rule in layer.Addresses)
                    if (rule.Opens(address, target.Port, target.Scheme)) { opened = true; break; }
                if (opened) continue;
                var what = address.IsPublic ? "the address" : $"{address.Address} ({Describe(address.Class)})";
                var reason = target.Literal is not null
                    ? $"{what} is not opened by network.allowed_addresses of {layer.Source} for port {target.Port}"
                    : $"'{target.Host}' resolves to {what}, which {layer.Source} does not open in network.allowed_addresses for port {target.Port}";
                return EgressDecision.Refuse(EgressRefusal.DomainNotAllowed, target, reason);
            }
            first ??= address.Address;
        }
        return EgressDecision.Allow(target, new IPEndPoint(first!, target.Port), $"allowed by {string.Join(", ", allowlist.Layers.Select(l => l.Source))}");
    }

    /// <summary>Words for an address class, as used in refusal reasons.</summary>
    public static string Describe(AddressClass c) => c switch
    {
        AddressClass.Public => "public",
        AddressClass.Unspecified => "unspecified address",
        AddressClass.Loopback => "loopback",
        AddressClass.Private => "private network",
        AddressClass.LinkLocal => "link-local",
        AddressClass.SharedCgnat => "carrier-grade NAT",
        AddressClass.CloudMetadata => "cloud metadata service",
        AddressClass.Multicast => "multicast",
        AddressClass.Broadcast => "broadcast",
        _ => "reserved range",
    };
}
