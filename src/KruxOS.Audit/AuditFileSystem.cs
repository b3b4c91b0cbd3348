namespace KruxOS.Audit;

/// <summary>
/// The file operations the audit writer needs. The seam lets tests inject write and fsync failures;
/// production uses <see cref="PhysicalAuditFileSystem"/>.
/// </summary>
public interface IAuditFileSystem
{
    /// <summary>Opens (creating if needed) a day file for appending.</summary>
    IAuditAppendFile OpenAppend(string path);
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

    private sealed class PhysicalFile : IAuditAppendFile
    {
        private readonly FileStream _stream;

        public PhysicalFile(string path)
        {
            // bufferSize 0: every Append is a write(2), so a failure surfaces in Append, not later.
            _stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite, bufferSize: 0);
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
