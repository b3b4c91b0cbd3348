using System.Net;

namespace KruxOS.LoadTest.Cli;

/// <summary>The driver only ever talks to loopback: anything else is refused before a socket is opened.</summary>
public static class LoopbackGuard
{
    /// <summary>True when <paramref name="host"/> is <c>localhost</c> or a loopback IP literal (127.0.0.0/8, ::1).</summary>
    public static bool IsLoopback(string? host)
    {
        if (string.IsNullOrWhiteSpace(host)) return false;
        var h = host.Trim();
        if (h.StartsWith('[') && h.EndsWith(']')) h = h[1..^1];
        if (string.Equals(h, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        return IPAddress.TryParse(h, out var ip) && IPAddress.IsLoopback(ip);
    }

    /// <summary>Throws unless <paramref name="uri"/> is absolute and its host is loopback.</summary>
    public static Uri Require(Uri uri)
    {
        if (!uri.IsAbsoluteUri || !IsLoopback(uri.Host))
            throw new LoopbackOnlyException($"refusing to target '{uri}': the load driver only targets loopback addresses (127.0.0.0/8, ::1, localhost)");
        return uri;
    }

    /// <summary>Throws unless <paramref name="host"/> is loopback; returns it unchanged.</summary>
    public static string RequireHost(string host)
    {
        if (!IsLoopback(host))
            throw new LoopbackOnlyException($"refusing host '{host}': the load driver only targets loopback addresses (127.0.0.0/8, ::1, localhost)");
        return host;
    }
}

/// <summary>A target outside loopback was requested.</summary>
public sealed class LoopbackOnlyException(string message) : Exception(message);
