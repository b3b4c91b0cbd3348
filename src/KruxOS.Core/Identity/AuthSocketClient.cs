using System.Net.Sockets;
using System.Text;

namespace KruxOS.Core.Identity;

/// <summary>
/// The client side of the auth socket, shared by <c>mcp-bridge</c> and <c>cli-hook</c>: one connection, one
/// request line, one answer line (<see cref="AuthSocketProtocol"/>). The gateway checks this process's uid with
/// <c>SO_PEERCRED</c>. It never throws for what the socket does: an absent, refusing, silent or garbled socket is
/// an answer of type <c>unavailable</c> with a message that says what happened. (Like <see cref="TokenHashing"/>'s
/// CSPRNG read, this is I/O in Core on purpose: both programs reference only Core and must speak the protocol identically.)
/// </summary>
public static class AuthSocketClient
{
    /// <summary>Where the programs look when <c>KRUXOS_AUTH_SOCKET</c> is unset (the appliance's path).</summary>
    public const string DefaultPath = "/run/kruxos/auth.sock";

    /// <summary>Longest one exchange may take unless the caller says otherwise.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(5);

    /// <summary>Longest answer line read (a minted answer is a few hundred bytes).</summary>
    public const int MaxAnswerBytes = 16 * 1024;

    /// <summary>Asks the socket at <paramref name="socketPath"/> for a credential for <paramref name="label"/>.</summary>
    public static async Task<AuthSocketProtocol.Answer> MintAsync(string socketPath, string label, TimeSpan timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), deadline.Token).ConfigureAwait(false);
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            var request = Encoding.UTF8.GetBytes(AuthSocketProtocol.MintRequest(label) + "\n");
            // The gateway may answer (a refusal) and close before reading; the answer is still there to read.
            try { await stream.WriteAsync(request, deadline.Token).ConfigureAwait(false); }
            catch (IOException) { }
            return AuthSocketProtocol.ParseAnswer(await ReadLineAsync(stream, deadline.Token).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return Unavailable($"the auth socket {socketPath} did not answer within {timeout.TotalSeconds:0.#} s");
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
            return Unavailable($"cannot use the auth socket {socketPath}: {why}");
        }
    }

    private static AuthSocketProtocol.Answer Unavailable(string message) => new(null, AuthSocketProtocol.ErrorTypes.Unavailable, message, Answered: false);

    // One line of at most MaxAnswerBytes; null when the peer closed first or sent more (the caller reports it as unavailable).
    private static async Task<string?> ReadLineAsync(Stream stream, CancellationToken ct)
    {
        var buffer = new byte[MaxAnswerBytes];
        var length = 0;
        while (length < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(length), ct).ConfigureAwait(false);
            if (n == 0) return length == 0 ? null : Encoding.UTF8.GetString(buffer, 0, length);
            var newline = Array.IndexOf(buffer, (byte)'\n', length, n);
            length += n;
            if (newline >= 0) return Encoding.UTF8.GetString(buffer, 0, newline).TrimEnd('\r');
        }
        return null;
    }
}
