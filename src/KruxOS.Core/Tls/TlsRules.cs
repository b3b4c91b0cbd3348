using System.Net;

namespace KruxOS.Core.Tls;

/// <summary>What to do with a new connection on the MCP port, judged by its first byte.</summary>
public enum FirstByteVerdict
{
    /// <summary>A TLS handshake record: serve <c>https://</c> / <c>wss://</c>.</summary>
    Tls,
    /// <summary>Plain text on a loopback bind: serve <c>http://</c> / <c>ws://</c> (development).</summary>
    PlainText,
    /// <summary>Plain text where it is not allowed: answer with a plain refusal and close.</summary>
    RefusePlainText,
}

/// <summary>
/// Which traffic the MCP port accepts (ADR 0025): TLS always; plain text only when the port is bound to a
/// loopback address, where the bytes never leave the machine. A bind on any other address (the appliance's
/// <c>0.0.0.0</c>) refuses plain text from every peer, loopback peers included.
/// </summary>
public static class TlsRules
{
    /// <summary>The content type of a TLS handshake record, the first byte every TLS client sends.</summary>
    public const byte HandshakeRecordType = 0x16;

    /// <summary>Whether plain text is served on a port bound to <paramref name="bind"/>.</summary>
    public static bool PlainTextAllowed(IPAddress bind) => IPAddress.IsLoopback(bind);

    /// <summary>The verdict for a connection whose first byte is <paramref name="first"/>.</summary>
    public static FirstByteVerdict Classify(byte first, bool plainTextAllowed) =>
        first == HandshakeRecordType ? FirstByteVerdict.Tls
        : plainTextAllowed ? FirstByteVerdict.PlainText
        : FirstByteVerdict.RefusePlainText;
}

/// <summary>What the node knows about its generated certificates on disk (nulls: absent or unreadable).</summary>
/// <param name="AuthorityNotAfter">When the local CA expires.</param>
/// <param name="AuthorityPermits">The names the CA's name constraints permit.</param>
/// <param name="LeafNotAfter">When the node (leaf) certificate expires.</param>
/// <param name="LeafNames">The leaf's subject alternative names.</param>
/// <param name="LeafSignedByAuthority">Whether the leaf chains to that CA.</param>
public sealed record GeneratedCertificateState(
    DateTimeOffset? AuthorityNotAfter,
    NodeNames? AuthorityPermits,
    DateTimeOffset? LeafNotAfter,
    NodeNames? LeafNames,
    bool LeafSignedByAuthority)
{
    /// <summary>Nothing on disk yet (first start).</summary>
    public static readonly GeneratedCertificateState Empty = new(null, null, null, null, false);
}

/// <summary>The step the certificate owner takes.</summary>
public enum CertificateAction
{
    /// <summary>The certificates on disk are fine.</summary>
    Keep,
    /// <summary>Sign a new node certificate with the existing CA (clients that trust the CA see no change).</summary>
    IssueLeaf,
    /// <summary>Make a new CA and node certificate (machines that trusted the old CA must import the new one).</summary>
    IssueAuthority,
}

/// <summary>A decision and why, for the log.</summary>
public sealed record CertificateDecision(CertificateAction Action, string Reason);

/// <summary>How long a certificate still has, as health reports it.</summary>
public enum ExpiryState
{
    Valid,
    ExpiresSoon,
    Expired,
    NotYetValid,
}

/// <summary>
/// When a generated node certificate or its CA is replaced (ADR 0025). The CA lives ten years and is
/// name-constrained to the node's names; the node certificate lives 90 days and is re-signed 30 days before
/// it expires, or at once when the node's names change. A new CA is made only when there is none, when it
/// would expire before a new node certificate does, or when a needed name is outside its constraints.
/// </summary>
public static class CertificateLifecycle
{
    /// <summary>Lifetime of a generated CA.</summary>
    public static readonly TimeSpan AuthorityLifetime = TimeSpan.FromDays(3650);

    /// <summary>Lifetime of a generated node certificate.</summary>
    public static readonly TimeSpan LeafLifetime = TimeSpan.FromDays(90);

    /// <summary>A generated node certificate is replaced when it has less than this left.</summary>
    public static readonly TimeSpan RenewBefore = TimeSpan.FromDays(30);

    /// <summary>Health turns degraded when any served certificate has less than this left.</summary>
    public static readonly TimeSpan WarnBefore = TimeSpan.FromDays(14);

    /// <summary>Decides what to do with the generated certificates for a node that needs <paramref name="needed"/>.</summary>
    public static CertificateDecision Decide(GeneratedCertificateState state, NodeNames needed, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(needed);
        if (state.AuthorityNotAfter is not { } caExpiry || state.AuthorityPermits is not { } permits)
            return new(CertificateAction.IssueAuthority, "no local certificate authority yet");
        if (caExpiry - now < LeafLifetime)
            return new(CertificateAction.IssueAuthority, $"the local certificate authority expires {caExpiry:yyyy-MM-dd}, before a new node certificate would");
        if (!needed.IsSubsetOf(permits))
            return new(CertificateAction.IssueAuthority, $"the node's names ({needed}) are not all within the local certificate authority's name constraints ({permits})");
        if (state.LeafNotAfter is not { } leafExpiry || state.LeafNames is not { } leafNames || !state.LeafSignedByAuthority)
            return new(CertificateAction.IssueLeaf, "no node certificate signed by the local certificate authority yet");
        if (!leafNames.SameAs(needed))
            return new(CertificateAction.IssueLeaf, $"the node's names changed (certificate: {leafNames}; now: {needed})");
        if (leafExpiry - now <= RenewBefore)
            return new(CertificateAction.IssueLeaf, $"the node certificate expires {leafExpiry:yyyy-MM-dd}");
        return new(CertificateAction.Keep, "the node certificate is current");
    }

    /// <summary>Where a certificate valid from <paramref name="notBefore"/> to <paramref name="notAfter"/> stands at <paramref name="now"/>.</summary>
    public static ExpiryState Expiry(DateTimeOffset notBefore, DateTimeOffset notAfter, DateTimeOffset now) =>
        now < notBefore ? ExpiryState.NotYetValid
        : now >= notAfter ? ExpiryState.Expired
        : notAfter - now < WarnBefore ? ExpiryState.ExpiresSoon
        : ExpiryState.Valid;
}

/// <summary>Which certificate a TLS handshake gets.</summary>
public enum ServedSource
{
    /// <summary>The node certificate signed by the node's own CA (always present).</summary>
    Generated,
    /// <summary>The certificate the operator supplied (<c>Gateway:Tls:CertificateFile</c>).</summary>
    Operator,
}

/// <summary>
/// Picks the certificate for one handshake (ADR 0025). The name asked for is the client's SNI, or the local
/// address the connection arrived on when the client sent none (clients never send SNI for an IP address).
/// An operator certificate is served whenever it covers that name; otherwise the generated one, which always
/// covers <c>localhost</c>, <c>127.0.0.1</c> and <c>::1</c> — so local clients keep working with an operator
/// certificate issued only for the node's public name.
/// </summary>
public static class CertificateSelection
{
    /// <summary>The source to serve.</summary>
    public static ServedSource Choose(string? serverName, IPAddress? localAddress, NodeNames? operatorNames, NodeNames generatedNames)
    {
        ArgumentNullException.ThrowIfNull(generatedNames);
        if (operatorNames is null) return ServedSource.Generated;
        if (Covers(operatorNames, serverName, localAddress)) return ServedSource.Operator;
        return Covers(generatedNames, serverName, localAddress) ? ServedSource.Generated : ServedSource.Operator;
    }

    /// <summary>Whether a certificate's names cover the name asked for (a <c>*.</c> wildcard covers exactly one label).</summary>
    public static bool Covers(NodeNames names, string? serverName, IPAddress? localAddress)
    {
        ArgumentNullException.ThrowIfNull(names);
        if (!string.IsNullOrEmpty(serverName))
        {
            var asked = serverName.TrimEnd('.').ToLowerInvariant();
            if (IPAddress.TryParse(asked, out var literal)) return names.Addresses.Any(a => a.Equals(literal));
            return names.DnsNames.Any(n => n == asked
                || (n.StartsWith("*.", StringComparison.Ordinal) && asked.IndexOf('.', StringComparison.Ordinal) is > 0 and var dot && asked[(dot + 1)..] == n[2..]));
        }
        if (localAddress is null) return false;
        var local = localAddress.IsIPv4MappedToIPv6 ? localAddress.MapToIPv4() : localAddress;
        return names.Addresses.Any(a => a.Equals(local));
    }
}
