using System.Globalization;
using KruxOS.Actors.Hosting;

namespace KruxOS.Actors.Cluster;

/// <summary>
/// A cluster node's id as the audit log, the supervision stream and cluster-wide answers name it: its remoting
/// <c>host:port</c> (<c>--cluster-host</c>, <c>--cluster-port</c>). Stable across restarts of the node and unique in
/// the cluster (two members cannot share an address).
/// </summary>
public static class NodeId
{
    /// <summary>The id of the node configured by <paramref name="settings"/>.</summary>
    public static string Of(KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return Of(settings.Cluster.Hostname, settings.Cluster.Port);
    }

    /// <summary>The id of the node at <paramref name="host"/>:<paramref name="port"/>.</summary>
    public static string Of(string host, int port) => host + ":" + port.ToString(CultureInfo.InvariantCulture);

    /// <summary>The id of a member at <paramref name="address"/>.</summary>
    public static string Of(Akka.Actor.Address address)
    {
        ArgumentNullException.ThrowIfNull(address);
        return Of(address.Host ?? "?", address.Port ?? 0);
    }
}
