using System.Runtime.InteropServices;

namespace KruxOS.Audit;

/// <summary>
/// The file operations the audit writer needs. The seam lets tests inject write and fsync failures;
/// production uses <see cref="PhysicalAuditFileSystem"/>.
/// </summary>
public interface IAuditFileSystem
{
    /// <summary>Opens (creating if needed) a day file for appending.</summary>
    IAuditAppendFile OpenAppend(string path);

    /// <summary>
    /// Makes the directory's entries durable (<c>fsync</c> of the directory itself), so a file created in it
    /// survives a crash: fsyncing a new file does not make its name durable.
    /// </summary>
    void SyncDirectory(string directory);
}

/// <summary>An open day file. Not thread-safe; used by one batch at a time.</summary>
public interface IAuditAppendFile : IDisposable
{
    /// <summary>Current length in bytes.</summary>
    long Length { get; }

    /// <summary>Appends bytes at the end of the file.</summary>
    void Append(ReadOnlySpan<byte> bytes);

    /// <summary>Forces written bytes to stable storage (fsync).</summary>
    void Sync();

    /// <summary>Cuts the file to <paramref name="length"/> bytes and syncs.</summary>
    void Truncate(long length);
}

/// <summary>Real files: unbuffered writes and <c>fsync</c> through <see cref="FileStream.Flush(bool)"/>.</summary>
public sealed class PhysicalAuditFileSystem : IAuditFileSystem
{
    /// <summary>The shared instance.</summary>
    public static readonly PhysicalAuditFileSystem Instance = new();

    /// <inheritdoc />
    public IAuditAppendFile OpenAppend(string path) => new PhysicalFile(path);

    /// <inheritdoc />
    public void SyncDirectory(string directory) => DirectorySync.Fsync(directory);

    private sealed class PhysicalFile : IAuditAppendFile
    {
        private readonly FileStream _stream;

        public PhysicalFile(string path)
        {
            // bufferSize 0: every Append is a write(2), so a failure surfaces in Append, not later.
            _stream = new FileStream(path, AuditFileModes.Options(FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0));
            _stream.Seek(0, SeekOrigin.End);
        }

        public long Length => _stream.Length;

        public void Append(ReadOnlySpan<byte> bytes)
        {
            _stream.Seek(0, SeekOrigin.End);
            _stream.Write(bytes);
        }

        public void Sync() => _stream.Flush(flushToDisk: true);

        public void Truncate(long length)
        {
            _stream.SetLength(length);
            _stream.Flush(flushToDisk: true);
        }

        public void Dispose() => _stream.Dispose();
    }
}

/// <summary><c>open(dir, O_RDONLY | O_DIRECTORY)</c> + <c>fsync</c>: .NET has no API that syncs a directory.</summary>
internal static partial class DirectorySync
{
    private const int ORdOnly = 0;
    private const int OCloExec = 0x80000;

    // O_DIRECTORY differs between Linux architectures (asm-generic vs x86).
    private static int ODirectory => RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x4000 : 0x10000;

    /// <summary>Fsyncs <paramref name="directory"/>; throws <see cref="IOException"/> when it cannot.</summary>
    public static void Fsync(string directory)
    {
        // Only Linux is supported by the gateway; elsewhere creating a file is left to the OS's own guarantees.
        if (!OperatingSystem.IsLinux()) return;
        var fd = open(directory, ORdOnly | ODirectory | OCloExec);
        if (fd < 0) throw Error("open", directory);
        try
        {
            if (fsync(fd) != 0) throw Error("fsync", directory);
        }
        finally
        {
            close(fd);
        }
    }

    private static IOException Error(string call, string directory)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call} of directory {directory} failed: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);
}
