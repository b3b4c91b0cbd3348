using System.Net;
using System.Net.Sockets;

namespace KruxOS.LoadTest.Targets;

/// <summary>Picks free loopback ports by binding port 0 and reading back what the OS chose.</summary>
public static class FreePorts
{
    /// <summary>Returns <paramref name="count"/> distinct ports that were free a moment ago.</summary>
    public static int[] Take(int count)
    {
        // Hold every listener until all are chosen so the OS cannot hand out the same port twice.
        var listeners = Enumerable.Range(0, count).Select(_ => new TcpListener(IPAddress.Loopback, 0)).ToList();
        try
        {
            foreach (var l in listeners) l.Start();
            return [.. listeners.Select(l => ((IPEndPoint)l.LocalEndpoint).Port)];
        }
        finally
        {
            foreach (var l in listeners) l.Stop();
        }
    }
}
