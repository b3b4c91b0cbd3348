using System.Net.Sockets;
using System.Text;
using KruxOS.Core.Identity;

namespace KruxOS.Bridge;

/// <summary>A credential for one connection attempt, or the exit code that explains why there is none.</summary>
public sealed record CredentialResult(string? Token, int ExitCode, string Detail)
{
    public static CredentialResult Of(string token) => new(token, ExitCodes.Ok, "");
}

/// <summary>Where the bridge gets the credential it presents on each connection.</summary>
public interface ICredentialSource
{
    /// <summary>A short description for the log (never the credential).</summary>
    string Describe { get; }

    /// <summary>The credential for the next connection attempt.</summary>
    Task<CredentialResult> GetAsync(CancellationToken ct);
}

/// <summary>A token from the environment, the same for every connection.</summary>
public sealed class FixedCredential(string token, string description) : ICredentialSource
{
    public string Describe => description;

    public Task<CredentialResult> GetAsync(CancellationToken ct) => Task.FromResult(CredentialResult.Of(token));
}

/// <summary>
/// Mints a fresh short-lived credential from the gateway's auth socket for every connection attempt: the
/// gateway checks this process's uid (<c>SO_PEERCRED</c>) and the label, so no long-lived token has to
/// live in any client config. Refusals map to exit codes 3 (locked), 4 (missing) and 5 (unavailable).
/// </summary>
public sealed class AuthSocketCredential(string socketPath, string label) : ICredentialSource
{
    /// <summary>Where the bridge looks when <c>KRUXOS_AUTH_SOCKET</c> is unset (the appliance's path).</summary>
    public const string DefaultPath = "/run/kruxos/auth.sock";

    /// <summary>Longest one exchange with the socket may take.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public string Describe => $"auth socket {socketPath}, label {label}";

    public async Task<CredentialResult> GetAsync(CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), timeout.Token).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var request = Encoding.UTF8.GetBytes(AuthSocketProtocol.MintRequest(label) + "\n");
            // The gateway may answer (a refusal) and close before reading; the answer is still there to read.
            try { await stream.WriteAsync(request, timeout.Token).ConfigureAwait(false); }
            catch (IOException) { }
            using var reader = new StreamReader(stream, Encoding.UTF8);
            var line = await reader.ReadLineAsync(timeout.Token).ConfigureAwait(false);
            return Map(AuthSocketProtocol.ParseAnswer(line), socketPath);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new(null, ExitCodes.CredentialSourceUnavailable, $"the auth socket {socketPath} did not answer within {Timeout.TotalSeconds:0} s");
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            var why = e is SocketException s ? s.SocketErrorCode switch
            {
                SocketError.AddressNotAvailable or SocketError.AddressFamilyNotSupported => "it does not exist",
                SocketError.ConnectionRefused => "nothing is listening on it (is the gateway running?)",
                SocketError.AccessDenied => "this user may not open it",
                _ => s.Message,
            } : e.Message;
            if (!File.Exists(socketPath)) why = "it does not exist (is the gateway running? set KRUXOS_AUTH_SOCKET to its auth socket)";
            return new(null, ExitCodes.CredentialSourceUnavailable, $"cannot use the auth socket {socketPath}: {why}");
        }
    }

    /// <summary>Maps the socket's answer to a credential or an exit code.</summary>
    public static CredentialResult Map(AuthSocketProtocol.Answer answer, string socketPath)
    {
        if (answer.Token is { } token) return CredentialResult.Of(token);
        var code = answer.ErrorType switch
        {
            AuthSocketProtocol.ErrorTypes.Locked => ExitCodes.CredentialSourceLocked,
            AuthSocketProtocol.ErrorTypes.Missing => ExitCodes.CredentialMissing,
            _ => ExitCodes.CredentialSourceUnavailable,
        };
        return new(null, code, $"the auth socket {socketPath} refused ({answer.ErrorType}): {answer.Message}");
    }
}
