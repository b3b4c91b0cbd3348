using System.Collections.Immutable;
using System.Globalization;
using System.Net;

namespace KruxOS.Core.Cluster;

/// <summary>A cluster node's remoting endpoint: the host other nodes reach it on and its fixed port.</summary>
public readonly record struct NodeEndpoint(string Host, int Port)
{
    /// <summary><c>host:port</c> (IPv6 hosts in brackets).</summary>
    public override string ToString() => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>
/// Parsing and checking of the cluster settings an operator writes (<c>--cluster-host</c>, <c>--cluster-port</c>,
/// <c>--seed-nodes host:port,…</c>). Every problem is reported as one sentence naming the setting, so the gateway can stop
/// at start with it instead of an exception.
/// </summary>
public static class ClusterAddresses
{
    /// <summary>The actor-system address form Akka uses (<c>akka.tcp://kruxos@host:port</c>).</summary>
    public static string ToAkkaAddress(NodeEndpoint endpoint, string systemName) => $"akka.tcp://{systemName}@{endpoint}";

    /// <summary>
    /// Parses one seed node: <c>host:port</c>, <c>[v6]:port</c>, or the full <c>akka.tcp://{system}@host:port</c> form (whose
    /// system name must be <paramref name="systemName"/>).
    /// </summary>
    public static bool TryParseSeed(string? text, string systemName, out NodeEndpoint endpoint, out string error)
    {
        endpoint = default;
        var value = text?.Trim() ?? "";
        if (value.Length == 0) { error = "an empty seed node"; return false; }
        if (value.Contains("://", StringComparison.Ordinal))
        {
            var prefix = $"akka.tcp://{systemName}@";
            if (!value.StartsWith(prefix, StringComparison.Ordinal))
            {
                error = $"seed node '{value}' must be host:port or {prefix}host:port";
                return false;
            }
            value = value[prefix.Length..];
        }
        string host;
        string port;
        if (value.StartsWith('['))
        {
            var close = value.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || close + 1 >= value.Length || value[close + 1] != ':') { error = $"seed node '{text}' is not host:port"; return false; }
            host = value[1..close];
            port = value[(close + 2)..];
        }
        else
        {
            var colon = value.LastIndexOf(':');
            if (colon <= 0 || value.IndexOf(':') != colon) { error = $"seed node '{text}' is not host:port"; return false; }
            host = value[..colon];
            port = value[(colon + 1)..];
        }
        if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var p) || p is < 1 or > 65535)
        {
            error = $"seed node '{text}' has no valid port (1-65535)";
            return false;
        }
        if (HostError(host) is { } bad) { error = $"seed node '{text}': {bad}"; return false; }
        endpoint = new NodeEndpoint(host, p);
        error = "";
        return true;
    }

    /// <summary>Parses every seed node; the first problem is returned instead.</summary>
    public static (ImmutableArray<NodeEndpoint> Seeds, string? Error) ParseSeeds(IEnumerable<string> seeds, string systemName)
    {
        ArgumentNullException.ThrowIfNull(seeds);
        var list = ImmutableArray.CreateBuilder<NodeEndpoint>();
        foreach (var seed in seeds)
        {
            if (!TryParseSeed(seed, systemName, out var endpoint, out var error)) return ([], error);
            if (!list.Contains(endpoint)) list.Add(endpoint);
        }
        return (list.ToImmutable(), null);
    }

    /// <summary>
    /// Why <paramref name="host"/> cannot be this node's advertised cluster address, or null. A wildcard (<c>0.0.0.0</c>,
    /// <c>::</c>) is refused: it is where a node listens, not an address the others can reach it on.
    /// </summary>
    public static string? HostError(string? host)
    {
        if (string.IsNullOrWhiteSpace(host)) return "the host is empty";
        if (host.Any(c => char.IsWhiteSpace(c) || c is '/' or '@' or '#' or '?' or '"' or '\'' || char.IsControl(c))) return $"'{host}' is not a host name or address";
        if (IPAddress.TryParse(host, out var ip) && (ip.Equals(IPAddress.Any) || ip.Equals(IPAddress.IPv6Any)))
            return $"'{host}' is a wildcard; give the address the other nodes reach this node on";
        if (host.Length > 253) return "the host name is longer than 253 characters";
        return null;
    }
}
