using System.Collections.Immutable;

namespace KruxOS.Proxy.Gmail;

/// <summary>
/// Settings of the Gmail adapter (<c>KruxOS:Gmail</c> in configuration). Base URLs are configurable so tests and
/// air-gapped installs point them at other servers. Nothing secret lives here: the OAuth client secret is given to
/// <c>kruxos connect gmail</c> on stdin (or <c>KRUXOS_GMAIL_CLIENT_SECRET</c> in the CLI's environment) and kept in the
/// vault entry with the tokens.
/// </summary>
public sealed class GmailOptions
{
    /// <summary>Configuration section.</summary>
    public const string Section = "KruxOS:Gmail";

    /// <summary>Google's authorization endpoint (the operator's browser goes there). <b>Default</b>: https://accounts.google.com/o/oauth2/v2/auth</summary>
    public Uri AuthorizeEndpoint { get; set; } = new("https://accounts.google.com/o/oauth2/v2/auth");

    /// <summary>Token endpoint (code exchange and refresh). <b>Default</b>: https://oauth2.googleapis.com/token</summary>
    public Uri TokenEndpoint { get; set; } = new("https://oauth2.googleapis.com/token");

    /// <summary>Revocation endpoint. <b>Default</b>: https://oauth2.googleapis.com/revoke</summary>
    public Uri RevokeEndpoint { get; set; } = new("https://oauth2.googleapis.com/revoke");

    /// <summary>Gmail API root; <c>gmail/v1/users/me/…</c> is appended. <b>Default</b>: https://gmail.googleapis.com/</summary>
    public Uri ApiBase { get; set; } = new("https://gmail.googleapis.com/");

    /// <summary>OAuth client id (not secret). May also be given to <c>kruxos connect gmail --client-id</c>.</summary>
    public string? ClientId { get; set; }

    /// <summary>Time between incremental syncs. <b>Default</b>: 5 min (ADR 0055).</summary>
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Messages fetched (metadata) by the initial sync, newest first. <b>Default</b>: 500.</summary>
    public int InitialSyncMessages { get; set; } = 500;

    /// <summary>Window of <c>email.send</c>. <b>Default</b>: 5 min (ADR 0055).</summary>
    public TimeSpan SendWindow { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Window of <c>email.delete</c> and <c>email.bulk_delete</c>. <b>Default</b>: 24 h.</summary>
    public TimeSpan DeleteWindow { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Window of <c>email.move</c>. <b>Default</b>: 1 h.</summary>
    public TimeSpan MoveWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long a started connect may take until the callback. <b>Default</b>: 5 min.</summary>
    public TimeSpan ConnectLifetime { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How often the refresher checks the token's expiry. <b>Default</b>: 60 s (spec §10.4).</summary>
    public TimeSpan RefreshCheckInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Timeout of one provider request. <b>Default</b>: 30 s.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The scopes asked for (spec §10.4).</summary>
    public static readonly ImmutableArray<string> Scopes =
    [
        "https://www.googleapis.com/auth/gmail.readonly",
        "https://www.googleapis.com/auth/gmail.send",
        "https://www.googleapis.com/auth/gmail.modify",
    ];

    /// <summary>The hosts the credential is sent to: the token, revocation and API endpoints' hosts.</summary>
    public ImmutableArray<string> CredentialHosts =>
        [.. new[] { TokenEndpoint, RevokeEndpoint, ApiBase }.Select(u => u.Host.ToLowerInvariant()).Distinct(StringComparer.Ordinal)];

    /// <summary>Checks the settings; null when sound, else why not (a start-up error).</summary>
    public string? Validate()
    {
        foreach (var (name, uri) in new[] { ("AuthorizeEndpoint", AuthorizeEndpoint), ("TokenEndpoint", TokenEndpoint), ("RevokeEndpoint", RevokeEndpoint), ("ApiBase", ApiBase) })
        {
            if (uri is null || !uri.IsAbsoluteUri) return $"KruxOS:Gmail:{name} must be an absolute URL";
            var loopback = uri.IsLoopback;
            if (uri.Scheme != Uri.UriSchemeHttps && !(uri.Scheme == Uri.UriSchemeHttp && loopback))
                return $"KruxOS:Gmail:{name} must use https (http only on loopback, for tests)";
            if (!string.IsNullOrEmpty(uri.UserInfo)) return $"KruxOS:Gmail:{name} must not carry user info";
        }
        if (SyncInterval < TimeSpan.FromSeconds(1)) return "KruxOS:Gmail:SyncInterval must be at least 1 s";
        if (InitialSyncMessages is < 1 or > 10_000) return "KruxOS:Gmail:InitialSyncMessages must be 1..10000";
        if (SendWindow <= TimeSpan.Zero || DeleteWindow <= TimeSpan.Zero || MoveWindow <= TimeSpan.Zero) return "KruxOS:Gmail windows must be positive";
        if (RefreshCheckInterval < TimeSpan.FromMilliseconds(100)) return "KruxOS:Gmail:RefreshCheckInterval must be at least 100 ms";
        if (ConnectLifetime < TimeSpan.FromSeconds(10) || ConnectLifetime > TimeSpan.FromHours(1)) return "KruxOS:Gmail:ConnectLifetime must be 10 s..1 h";
        return null;
    }
}
