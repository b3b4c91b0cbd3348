using Xunit;
using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using KruxOS.Core.Errors;
using KruxOS.Core.Proxy;
using KruxOS.Proxy;
using KruxOS.Proxy.Gmail;
using KruxOS.Testing.Fakes;
using KruxOS.Vault;
using Microsoft.Data.Sqlite;

namespace KruxOS.Gateway.Tests.Gmail;

/// <summary>
/// An in-memory stand-in for the vault-backed <see cref="IServiceCredentials"/> (values held as real <see cref="SecretValue"/>s),
/// recording every use, store and flag, so the Gmail specs see exactly what the adapter asked of the vault.
/// </summary>
internal sealed class MemoryCredentials : IServiceCredentials, IServiceConnections
{
    private readonly ConcurrentDictionary<string, byte[]> _values = new(StringComparer.Ordinal);

    public ConcurrentQueue<CredentialUse> Uses { get; } = new();
    public ConcurrentQueue<string> Stores { get; } = new();
    public ConcurrentQueue<string> Flags { get; } = new();
    public ConcurrentQueue<string> Completed { get; } = new();

    public GmailCredential? Current => _values.TryGetValue("gmail", out var v) ? GmailCredential.Parse(v) : null;

    public void Put(GmailCredential credential) => _values["gmail"] = credential.ToBytes();

    public Task<CredentialLease> OpenAsync(CredentialUse use, CancellationToken cancellationToken)
    {
        Uses.Enqueue(use);
        if (!_values.TryGetValue(use.Service.Value, out var v))
            return Task.FromResult(new CredentialLease(ProxyErrors.NotConnected(use.Service)));
        var bytes = new SecretBytes(v.Length);
        v.CopyTo(bytes.Span);
        return Task.FromResult(new CredentialLease(new SecretValue(bytes)));
    }

    public Task<CredentialChange> StoreAsync(ServiceName service, ReadOnlyMemory<byte> value, string reason, CancellationToken cancellationToken)
    {
        _values[service.Value] = value.ToArray();
        Stores.Enqueue(reason);
        return Task.FromResult(CredentialChange.Done(reason));
    }

    public Task<CredentialChange> FlagAsync(ServiceName service, string reason, CancellationToken cancellationToken)
    {
        Flags.Enqueue(reason);
        return Task.FromResult(CredentialChange.Done("flagged"));
    }

    public Task<CredentialChange> RemoveAsync(ServiceName service, string reason, CancellationToken cancellationToken)
    {
        _values.TryRemove(service.Value, out _);
        return Task.FromResult(CredentialChange.Done("removed"));
    }

    public CredentialStatus Status(ServiceName service) =>
        new(service, _values.ContainsKey(service.Value) ? (Flags.IsEmpty ? CredentialState.Live : CredentialState.NeedsAttention) : CredentialState.Absent, 1, null, null);

    public async Task<CredentialChange> CompleteAsync(ServiceName service, string account, ReadOnlyMemory<byte> credential, CancellationToken cancellationToken)
    {
        Completed.Enqueue(account);
        return await StoreAsync(service, credential, "connected", cancellationToken);
    }
}

/// <summary>A Gmail adapter wired to a <see cref="FakeGoogle"/> and <see cref="MemoryCredentials"/>.</summary>
internal sealed class GmailRig : IAsyncDisposable
{
    private GmailRig(FakeGoogle google, GmailOptions options, MemoryCredentials credentials, HttpClient http, TimeProvider clock)
    {
        Google = google;
        Options = options;
        Credentials = credentials;
        Http = http;
        OAuth = new GoogleOAuthClient(http, options, clock);
        Api = new GmailApiClient(http, options);
        Tokens = new GmailTokens(() => credentials, OAuth, options, clock);
        Connector = new GmailConnector(OAuth, Api, options, () => credentials, clock);
        Adapter = new GmailAdapter(options, Api, OAuth, Tokens, Connector, clock);
        Directory = System.IO.Directory.CreateTempSubdirectory("kruxos-gmail-").FullName;
    }

    public FakeGoogle Google { get; }
    public GmailOptions Options { get; }
    public MemoryCredentials Credentials { get; }
    public HttpClient Http { get; }
    public GoogleOAuthClient OAuth { get; }
    public GmailApiClient Api { get; }
    public GmailTokens Tokens { get; }
    public GmailConnector Connector { get; }
    public GmailAdapter Adapter { get; }
    public string Directory { get; }

    public static async Task<GmailRig> StartAsync(TimeProvider? clock = null)
    {
        var google = await FakeGoogle.StartAsync();
        var options = OptionsFor(google);
        var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false, UseProxy = false });
        return new GmailRig(google, options, new MemoryCredentials(), http, clock ?? TimeProvider.System);
    }

    public static GmailOptions OptionsFor(FakeGoogle google) => new()
    {
        AuthorizeEndpoint = google.AuthorizeEndpoint, TokenEndpoint = google.TokenEndpoint, RevokeEndpoint = google.RevokeEndpoint,
        ApiBase = google.GmailBase, ClientId = google.ClientId, RequestTimeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>Stores a connected credential issued by the fake (as a finished connect would), expiring at <paramref name="expiresAt"/>.</summary>
    public void Connect(DateTimeOffset? expiresAt = null)
    {
        var (access, refresh) = Google.IssueTokens();
        Credentials.Put(new GmailCredential(access, refresh, expiresAt ?? DateTimeOffset.UtcNow.AddHours(1), GmailOptions.Scopes, Google.Account,
            Google.ClientId, Google.ClientSecret));
    }

    /// <summary>A fresh connection to a replica file of this rig.</summary>
    public async Task<SqliteConnection> ReplicaAsync(string name = "sync.db")
    {
        var c = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(Directory, name), Pooling = false }.ToString());
        await c.OpenAsync();
        return c;
    }

    /// <summary>Follows the fake's authorization endpoint once: the callback's query (code, state).</summary>
    public async Task<(string Code, string State)> AuthorizeAsync(Uri authorizeUrl)
    {
        using var response = await Http.GetAsync(authorizeUrl);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var q = System.Web.HttpUtility.ParseQueryString(response.Headers.Location!.Query);
        return (q["code"]!, q["state"]!);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Google.DisposeAsync();
        SqliteConnection.ClearAllPools();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

/// <summary>Building <see cref="WriteExecution"/>s for adapter specs.</summary>
internal static class Writes
{
    public static WriteExecution For(string operation, object arguments, int attempt = 1, RollbackPoint? rollback = null)
    {
        var id = WriteId.New(DateTimeOffset.UtcNow);
        return new WriteExecution(id, ServiceName.Parse("gmail"), KruxOS.Core.Capabilities.CapabilityName.Parse(operation),
            System.Text.Json.JsonSerializer.SerializeToElement(arguments), WriteMarker.New(id), KruxOS.Core.Agents.AgentName.Parse("mailer"), "sess-1", attempt, rollback);
    }

    public static ImmutableArray<string> Labels(IReadOnlyList<string>? labels) => [.. (labels ?? []).Order(StringComparer.Ordinal)];
}
