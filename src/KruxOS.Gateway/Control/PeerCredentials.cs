using System.Buffers.Binary;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace KruxOS.Gateway.Control;

/// <summary>Unix peer credentials (<c>SO_PEERCRED</c>) and the process's own uid.</summary>
public static partial class PeerCredentials
{
    private const int SolSocket = 1;
    private const int SoPeerCred = 17;

    /// <summary>The uid of the process on the other end of a connected Unix socket.</summary>
    public static uint PeerUid(Socket socket)
    {
        Span<byte> ucred = stackalloc byte[12]; // struct ucred { pid_t pid; uid_t uid; gid_t gid; }
        var length = socket.GetRawSocketOption(SolSocket, SoPeerCred, ucred);
        if (length < 12) throw new SocketException((int)SocketError.ProtocolNotSupported);
        return BinaryPrimitives.ReadUInt32LittleEndian(ucred[4..8]);
    }

    /// <summary>The effective uid of this process.</summary>
    public static uint OwnUid() => geteuid();

    /// <summary>Changes a file's mode (e.g. 0600 for the control socket).</summary>
    public static void ChangeMode(string path, uint mode)
    {
        if (chmod(path, mode) != 0) throw new IOException($"chmod {path} failed with errno {Marshal.GetLastPInvokeError()}");
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint geteuid();

    [LibraryImport("libc", EntryPoint = "chmod", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int chmod(string path, uint mode);
}
