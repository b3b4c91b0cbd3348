namespace KruxOS.Network;

/// <summary>The limits of the network capabilities (docs/network.md).</summary>
public sealed record NetworkOptions
{
    /// <summary>The largest response body <c>network.http_request</c> and <c>network.credentialed_request</c> return (8 MiB): a larger one is refused, never buffered.</summary>
    public long MaxResponseBytes { get; init; } = 8L * 1024 * 1024;

    /// <summary>The largest file <c>network.download</c> writes (1 GiB).</summary>
    public long MaxDownloadBytes { get; init; } = 1024L * 1024 * 1024;

    /// <summary>How long <c>network.download</c> may take, redirects included (spec: no input; 300 s, the longest request timeout).</summary>
    public TimeSpan DownloadTimeout { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>The size of one chunk streamed to the sandbox worker by <c>network.download</c>.</summary>
    public int DownloadChunkBytes { get; init; } = 512 * 1024;

    /// <summary>How long a name may take to resolve.</summary>
    public TimeSpan ResolveTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest a pooled connection is reused (connections are pooled per checked address and name).</summary>
    public TimeSpan PooledConnectionLifetime { get; init; } = TimeSpan.FromMinutes(2);
}
