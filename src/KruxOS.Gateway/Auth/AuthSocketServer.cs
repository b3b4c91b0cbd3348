using System.Net.Sockets;
using System.Text;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Hosting;

namespace KruxOS.Gateway.Auth;

/// <summary>
/// Serves the auth socket: a local Unix socket where a program running as an allowed uid (checked with
/// <c>SO_PEERCRED</c>) exchanges a user-token label for a short-lived <c>krx_sess_</c> credential. One
/// request line and one answer line per connection; a peer that does not finish its request within
/// <see cref="RequestTimeout"/> is dropped. The credential is written only to the socket — never logged.
/// </summary>
public sealed partial class AuthSocketServer(
    GatewaySettings gateway,
    KruxOsSettings settings,
    IdentityDirectory identities,
    SessionCredentialStore credentials,
    ILogger<AuthSocketServer> log,
    AuthSocketAccess access) : BackgroundService
{
    /// <summary>Longest a peer may take to send its request.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(5);

    /// <summary>The socket path.</summary>
    public string SocketPath => gateway.AuthSocketPath(settings.DataDir);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var path = SocketPath;
        LogListening(path, gateway.MintCredentials);
        // With extra uids allowed (configured, or granted at run time) the file must be connectable by them; SO_PEERCRED
        // is then the guard. The policy is read for every connection, so a grant takes effect at once (ADR 0026).
        await UnixSocketListener.RunAsync(path, access.SocketMode, access.SocketDirectoryMode(path),
            client => ServeAsync(client, access.Policy(), stoppingToken), stoppingToken).ConfigureAwait(false);
    }

    private async Task ServeAsync(Socket client, MintPolicy policy, CancellationToken stoppingToken)
    {
        using var _ = client;
        await using var stream = new NetworkStream(client, ownsSocket: false);
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false)) { AutoFlush = true, NewLine = "\n" };
        try
        {
            uint peer;
            try { peer = PeerCredentials.PeerUid(client); }
            catch (SocketException) { return; }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            timeout.CancelAfter(RequestTimeout);
            var line = await ReadLineAsync(stream, timeout.Token).ConfigureAwait(false);
            if (!policy.AllowsUid(peer))
            {
                // The request is read (so the peer sees a clean answer) but not looked at: a foreign uid learns nothing about labels.
                LogRefused(peer);
                var refusal = CredentialMinting.Decide(IdentityState.Empty, policy, peer, null);
                await writer.WriteLineAsync(AuthSocketProtocol.Refused(AuthSocketProtocol.ErrorTypes.Forbidden, refusal.Message)).ConfigureAwait(false);
                return;
            }
            if (line is null)
            {
                await writer.WriteLineAsync(AuthSocketProtocol.Refused(AuthSocketProtocol.ErrorTypes.InvalidRequest,
                    $"send one JSON line of at most {AuthSocketProtocol.MaxLineBytes} bytes")).ConfigureAwait(false);
                return;
            }
            if (!AuthSocketProtocol.TryParseRequest(line, out var label, out var why))
            {
                await writer.WriteLineAsync(AuthSocketProtocol.Refused(AuthSocketProtocol.ErrorTypes.InvalidRequest, why)).ConfigureAwait(false);
                return;
            }
            if (!identities.Ready.IsCompletedSuccessfully)
            {
                await writer.WriteLineAsync(AuthSocketProtocol.Refused(AuthSocketProtocol.ErrorTypes.Unavailable, "the identity registry is not ready yet")).ConfigureAwait(false);
                return;
            }
            var decision = CredentialMinting.Decide(identities.Current, policy, peer, label);
            if (decision.Outcome != MintOutcome.Mint)
            {
                LogNotMinted(peer, decision.Outcome);
                await writer.WriteLineAsync(AuthSocketProtocol.Refused(AuthSocketProtocol.ErrorTypeOf(decision.Outcome), decision.Message)).ConfigureAwait(false);
                return;
            }
            var (token, expires) = credentials.Mint(decision.UserToken!.Id, gateway.SessionCredentialLifetime);
            LogMinted(peer, decision.UserToken.Id, expires);
            await writer.WriteLineAsync(AuthSocketProtocol.Minted(token, expires, decision.UserToken.Label)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The peer went away or was too slow; nothing was minted for it.
        }
    }

    /// <summary>Reads one line of at most <see cref="AuthSocketProtocol.MaxLineBytes"/> bytes; null when longer or closed first.</summary>
    private static async Task<string?> ReadLineAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new byte[AuthSocketProtocol.MaxLineBytes + 1];
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(length, buffer.Length - length), ct).ConfigureAwait(false);
            if (n == 0) break;
            var newline = Array.IndexOf(buffer, (byte)'\n', length, n);
            length += n;
            if (newline >= 0) return Encoding.UTF8.GetString(buffer, 0, newline).TrimEnd('\r');
        }
        return null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Auth socket listening on {Path} (minting {Enabled})")]
    private partial void LogListening(string path, bool enabled);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Auth socket refused a peer with uid {Uid}")]
    private partial void LogRefused(uint uid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Auth socket did not mint for uid {Uid}: {Outcome}")]
    private partial void LogNotMinted(uint uid, MintOutcome outcome);

    [LoggerMessage(Level = LogLevel.Information, Message = "Auth socket minted a session credential for uid {Uid}, user token {UserTokenId}, expiring {ExpiresAt}")]
    private partial void LogMinted(uint uid, string userTokenId, DateTimeOffset expiresAt);
}
