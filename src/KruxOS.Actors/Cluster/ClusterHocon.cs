using System.Globalization;
using KruxOS.Actors.Hosting;

namespace KruxOS.Actors.Cluster;

/// <summary>The Akka settings of a cluster node's downing (ADR 0047).</summary>
public static class ClusterHocon
{
    /// <summary>
    /// The split-brain resolver with the configured strategy and stable-after; a node downed (by the resolver or an operator)
    /// runs coordinated shutdown and the gateway process exits, so an orphaned minority never keeps serving.
    /// </summary>
    public static string Downing(ClusterNodeSettings cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var stable = ((long)cluster.DowningStableAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        return $$"""
            akka.cluster {
              downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
              split-brain-resolver {
                active-strategy = {{cluster.SplitBrainStrategy}}
                stable-after = {{stable}}ms
                down-all-when-unstable = on
                keep-oldest.down-if-alone = on
              }
              run-coordinated-shutdown-when-down = on
            }
            akka.coordinated-shutdown.run-by-clr-shutdown-hook = on
            # A cluster policy revision (at most 512 KiB of files) and one node's audit answer (at most 1 MiB of entries)
            # each travel as one message (ADR 0059).
            akka.remote.dot-netty.tcp.maximum-frame-size = 4194304b
            """;
    }
}
