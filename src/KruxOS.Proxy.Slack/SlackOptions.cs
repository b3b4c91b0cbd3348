namespace KruxOS.Proxy.Slack;

/// <summary>
/// Settings of the Slack adapter (configuration section <c>KruxOS:Slack</c>; <c>KRUXOS_SLACK_BASE_URL</c> sets the base).
/// Tests and air-gapped installs point <see cref="BaseUrl"/> at another server.
/// </summary>
public sealed record SlackOptions
{
    /// <summary>The configuration section.</summary>
    public const string Section = "KruxOS:Slack";

    /// <summary>The Web API base (default <c>https://slack.com/api/</c>); methods are appended (<c>auth.test</c>).</summary>
    public Uri BaseUrl { get; init; } = new("https://slack.com/api/");

    /// <summary>How long one HTTP request may take (default 30 s).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The longest <c>Retry-After</c> the client waits out in place before retrying (default 30 s); a longer one is returned as a transient failure.</summary>
    public TimeSpan MaxRateLimitWait { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many times one call is retried after a rate limit it waited out (default 3).</summary>
    public int MaxRateLimitRetries { get; init; } = 3;

    /// <summary>The largest answer read (default 16 MiB): a larger one is a transient <c>response_too_large</c>, never buffered whole.</summary>
    public long MaxResponseBytes { get; init; } = 16L * 1024 * 1024;

    /// <summary>The cancellation window of <c>slack.send</c> and <c>slack.reply</c> (spec §12.5: 30 s).</summary>
    public TimeSpan SendWindow { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long the rollback of a send, reply or reaction can be applied (spec §12.5: 24 h for Slack).</summary>
    public TimeSpan RollbackRetention { get; init; } = TimeSpan.FromHours(24);

    /// <summary>Batch protection: messages (sends and replies together) per channel per hour before a write needs approval (spec: 10).</summary>
    public int MessagesPerChannelPerHour { get; init; } = 10;

    /// <summary>How often the replica is brought up to date (spec §12.5: every 60 s).</summary>
    public TimeSpan SyncInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many messages per channel the first sync takes (spec §12.5: 100).</summary>
    public int InitialMessagesPerChannel { get; init; } = 100;

    /// <summary>At most this many channels are synchronised (bounds one sync's calls; default 200).</summary>
    public int MaxChannels { get; init; } = 200;

    /// <summary>The most messages one incremental sync takes per channel (the rest follow next time; default 1000).</summary>
    public int MaxMessagesPerSync { get; init; } = 1000;

    /// <summary>How many threads per channel an incremental sync refreshes (most recently active first; default 10).</summary>
    public int MaxThreadRefreshesPerChannel { get; init; } = 10;

    /// <summary>How long after its last reply a thread is still refreshed for new replies (default 24 h).</summary>
    public TimeSpan ThreadRefreshWindow { get; init; } = TimeSpan.FromHours(24);

    /// <summary>The error in the settings, or null: the base must be an absolute http(s) URL without credentials, the numbers positive.</summary>
    public string? Validate()
    {
        if (!BaseUrl.IsAbsoluteUri || (BaseUrl.Scheme != Uri.UriSchemeHttps && BaseUrl.Scheme != Uri.UriSchemeHttp))
            return "KruxOS:Slack:BaseUrl must be an absolute http(s) URL";
        if (!string.IsNullOrEmpty(BaseUrl.UserInfo)) return "KruxOS:Slack:BaseUrl must not carry credentials";
        if (!string.IsNullOrEmpty(BaseUrl.Query) || !string.IsNullOrEmpty(BaseUrl.Fragment)) return "KruxOS:Slack:BaseUrl must not carry a query or fragment";
        if (SendWindow <= TimeSpan.Zero || RollbackRetention <= TimeSpan.Zero) return "KruxOS:Slack windows must be positive";
        if (MessagesPerChannelPerHour < 0) return "KruxOS:Slack:MessagesPerChannelPerHour must not be negative";
        if (RequestTimeout <= TimeSpan.Zero || SyncInterval < TimeSpan.FromSeconds(1)) return "KruxOS:Slack timeouts and intervals must be positive";
        if (InitialMessagesPerChannel is < 1 or > 1000) return "KruxOS:Slack:InitialMessagesPerChannel must be 1–1000";
        if (MaxChannels < 1 || MaxMessagesPerSync < 1 || MaxRateLimitRetries < 0 || MaxResponseBytes < 1024 || MaxThreadRefreshesPerChannel < 0)
            return "KruxOS:Slack limits must be positive";
        return null;
    }

    /// <summary>The base with a trailing slash, so methods resolve beneath it.</summary>
    internal Uri Base => BaseUrl.AbsoluteUri.EndsWith('/') ? BaseUrl : new Uri(BaseUrl.AbsoluteUri + "/");
}
