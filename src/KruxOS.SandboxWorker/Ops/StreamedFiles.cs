using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.SandboxWorker.Native;
using KruxOS.SandboxWorker.Paths;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// <c>files.stream</c>: a file written in stages from content the gateway streams in (<c>network.download</c>), with
/// the path rules of <c>filesystem.write</c>. Everything happens here, as the agent's uid inside its sandbox:
/// <list type="number">
/// <item><c>begin</c> resolves the path like a write (workspace and writable mounts only, the parent must exist, an
/// existing file is refused unless <c>overwrite</c>), and creates a fresh temp file beside it (O_EXCL, no symbolic
/// link followed);</item>
/// <item><c>chunk</c> appends base64 content to that temp file (opened beneath the parent, no link followed);</item>
/// <item><c>commit</c> hashes the temp file as it is on disk; on an <c>expected_checksum</c> mismatch it deletes it
/// (nothing is left at the path), else renames it into place (refusing an existing target unless
/// <c>overwrite</c>);</item>
/// <item><c>abort</c> deletes the temp file.</item>
/// </list>
/// The temp name is checked on every stage: it must be one this class makes for the target (a hidden name beside it),
/// so a stage can never touch another file.
/// </summary>
internal sealed class StreamedFiles(PathResolver paths, AtomicWrites atomicWrites)
{
    /// <summary>The worker operation.</summary>
    public const string Operation = "files.stream";

    private const ulong Beneath = Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_SYMLINKS | Libc.RESOLVE_NO_MAGICLINKS;

    public JsonNode Run(JsonElement a)
    {
        var stage = Args.Str(a, "stage");
        var p = paths.Resolve(Args.Str(a, "path"));
        PathResolver.RequireWritable(p, "write");
        try
        {
            return stage switch
            {
                "begin" => Begin(p, Args.Bool(a, "overwrite")),
                "chunk" => Chunk(p, Temp(a, p), Args.Str(a, "content")),
                "commit" => Commit(p, Temp(a, p), Args.Bool(a, "overwrite"), Args.OptStr(a, "expected_checksum")),
                "abort" => Abort(p, Temp(a, p)),
                _ => throw FsErrors.InvalidInput("stage", "must be begin, chunk, commit or abort"),
            };
        }
        catch (UnauthorizedAccessException) { throw FsErrors.PermissionDenied(p.Virtual, "write"); }
        catch (IOException e) when ((e.HResult & 0xFFFF) == Libc.ENOSPC) { throw FsErrors.DiskFull(p.Virtual); }
    }

    // The temp file of this target: a name made by AtomicWrites.TempNameFor for exactly this file name.
    private static string Temp(JsonElement a, ResolvedPath p)
    {
        var temp = Args.Str(a, "temp");
        if (!AtomicWrites.IsTempName(temp) || !temp.StartsWith("." + p.Name + ".kruxos-", StringComparison.Ordinal) || temp.Contains('/'))
            throw FsErrors.InvalidInput("temp", "is not the temporary file of this download");
        return temp;
    }

    private JsonNode Begin(ResolvedPath p, bool overwrite)
    {
        if (!Directory.Exists(Path.GetDirectoryName(p.Real)!)) throw FsErrors.ParentNotFound(p.Virtual);
        if (Directory.Exists(p.Real)) throw FsErrors.Custom("IsADirectory", $"'{p.Virtual}' is a directory", "choose_path", "Download to a file path.", null, ("path", p.Virtual));
        if (File.Exists(p.Real) && !overwrite) throw FsErrors.DestinationExists(p.Virtual);
        var temp = AtomicWrites.TempNameFor(p.Name);
        var dirfd = paths.OpenParent(p);
        try
        {
            var fd = Libc.OpenAt2(dirfd, temp, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL, 0x1A4, Beneath);
            if (fd < 0) throw Failed(p, -fd, "create a temporary file for");
            Libc.close(fd);
        }
        finally { Libc.close(dirfd); }
        return new JsonObject { ["temp"] = temp };
    }

    private JsonNode Chunk(ResolvedPath p, string temp, string content)
    {
        byte[] bytes;
        try { bytes = Convert.FromBase64String(content); }
        catch (FormatException) { throw FsErrors.InvalidInput("content", "is not valid base64"); }
        using var handle = OpenTemp(p, temp, Libc.O_WRONLY | Libc.O_APPEND);
        using var fs = new FileStream(handle, FileAccess.Write, bufferSize: 0);
        fs.Write(bytes);
        return new JsonObject { ["size"] = RandomAccess.GetLength(handle) };
    }

    private JsonNode Commit(ResolvedPath p, string temp, bool overwrite, string? expected)
    {
        string checksum;
        long size;
        using (var handle = OpenTemp(p, temp, Libc.O_RDONLY))
        {
            using var fs = new FileStream(handle, FileAccess.Read, bufferSize: 0);
            size = fs.Length;
            checksum = Convert.ToHexStringLower(SHA256.HashData(fs));
        }
        var dirfd = paths.OpenParent(p);
        try
        {
            if (expected is not null && !string.Equals(expected, checksum, StringComparison.OrdinalIgnoreCase))
            {
                Libc.unlinkat(dirfd, temp, 0);
                throw new WorkerException(KruxOS.Core.Errors.StructuredError.Create("ChecksumMismatch",
                        $"The download to '{p.Virtual}' has SHA-256 {checksum}, not {expected.ToLowerInvariant()}; the file was deleted.")
                    .WithRecovery("check_checksum", "Check the URL and the checksum you expect.")
                    .WithContext("path", p.Virtual).WithContext("expected", expected.ToLowerInvariant()).WithContext("actual", checksum));
            }
            atomicWrites.Renaming(Path.Combine(Path.GetDirectoryName(p.Real)!, temp), File.Exists(p.Real));
            var renamed = overwrite
                ? Libc.renameat(dirfd, temp, dirfd, p.Name)
                : Libc.renameat2(dirfd, temp, dirfd, p.Name, Libc.RENAME_NOREPLACE);
            if (renamed != 0)
            {
                var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                Libc.unlinkat(dirfd, temp, 0);
                throw errno == Libc.EEXIST ? FsErrors.DestinationExists(p.Virtual)
                    : errno == Libc.EISDIR ? FsErrors.Custom("IsADirectory", $"'{p.Virtual}' is a directory", "choose_path", "Download to a file path.")
                    : FsErrors.PermissionDenied(p.Virtual, "write");
            }
        }
        finally { Libc.close(dirfd); }
        return new JsonObject { ["path"] = p.Virtual, ["size"] = size, ["checksum"] = checksum };
    }

    private JsonNode Abort(ResolvedPath p, string temp)
    {
        var dirfd = paths.OpenParent(p);
        try { Libc.unlinkat(dirfd, temp, 0); }
        finally { Libc.close(dirfd); }
        return new JsonObject { ["aborted"] = true };
    }

    private Microsoft.Win32.SafeHandles.SafeFileHandle OpenTemp(ResolvedPath p, string temp, int flags)
    {
        var dirfd = paths.OpenParent(p);
        try
        {
            var fd = Libc.OpenAt2(dirfd, temp, flags | Libc.O_NOFOLLOW, 0, Beneath);
            if (fd < 0) throw Failed(p, -fd, "open the temporary file of");
            return new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true);
        }
        finally { Libc.close(dirfd); }
    }

    private static WorkerException Failed(ResolvedPath p, int errno, string what) =>
        errno is Libc.EROFS or Libc.EACCES or Libc.EPERM ? FsErrors.PermissionDenied(p.Virtual, "write")
        : errno == Libc.ENOSPC ? FsErrors.DiskFull(p.Virtual)
        : errno is Libc.ELOOP or Libc.ENOENT ? FsErrors.Custom("DownloadFailed", $"Cannot {what} '{p.Virtual}': it was removed or replaced during the download (errno {errno})", "retry", "Try again.", null, ("path", p.Virtual))
        : FsErrors.Custom("IoError", $"Cannot {what} '{p.Virtual}' (errno {errno})", "retry", "Try again.", null, ("path", p.Virtual));
}
