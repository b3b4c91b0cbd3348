using System.Globalization;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Health;
using KruxOS.Actors.Connections;
using KruxOS.Actors.Hosting;

namespace KruxOS.Gateway.Hosting;

/// <summary>
/// Live counters of this node for status and health output: open connections (asked of the connection
/// parent), invocations since start (from <see cref="Control.AgentActivity"/>), load and disk.
/// </summary>
public sealed class NodeStatus(IRequiredActor<ConnectionRegistry> connections, NodeFacts facts, Control.AgentActivity activity)
{
    /// <summary>Capability calls since this node started.</summary>
    public long TotalInvocations => activity.TotalInvocations;

    /// <summary>Open MCP connections on this node.</summary>
    public async Task<int> ActiveConnectionsAsync(CancellationToken ct)
    {
        var parent = await connections.GetAsync(ct).ConfigureAwait(false);
        return await parent.Ask<int>(ConnectionMessages.Count.Instance, TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
    }

    /// <summary>1, 5 and 15 minute load averages (zeros where unavailable).</summary>
    public double[] LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return [.. parts.Take(3).Select(p => double.Parse(p, CultureInfo.InvariantCulture))];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            return [0, 0, 0];
        }
    }

    /// <summary>Size and free space of the data partition.</summary>
    public (long Total, long Available) Disk()
    {
        var drive = DiskSpace.DiskOf(facts.DataDirectory);
        return (drive.TotalSize, drive.AvailableFreeSpace);
    }
}
