using System.Collections.Frozen;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.SandboxWorker.Native;
using KruxOS.SandboxWorker.Paths;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>The 13 filesystem capabilities (spec §8.8), minus watch, which lives in <see cref="Watches"/>.</summary>
internal sealed class FileOps(PathResolver paths, Trash trash, AtomicWrites atomicWrites)
{
    /// <summary>Default and hard cap of one read (CHANGELOG: 1 MiB).</summary>
    public const long ReadCap = 1024 * 1024;
    private const long EditMaxFileBytes = 8 * 1024 * 1024;
    private static readonly UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    // The one list of what this class executes: the dispatch below and the sandbox's operation set read it.
    private static readonly FrozenDictionary<string, Func<FileOps, JsonElement, CallContext, JsonNode>> Table =
        new Dictionary<string, Func<FileOps, JsonElement, CallContext, JsonNode>>(StringComparer.Ordinal)
        {
            ["filesystem.read"] = static (f, a, _) => f.Read(a),
            ["filesystem.write"] = static (f, a, _) => f.Write(a),
            ["filesystem.append"] = static (f, a, _) => f.Append(a),
            ["filesystem.edit"] = static (f, a, _) => f.Edit(a),
            ["filesystem.list"] = static (f, a, _) => f.List(a),
            ["filesystem.stat"] = static (f, a, _) => f.Stat(a),
            ["filesystem.delete"] = static (f, a, ctx) => f.Delete(a, ctx),
            ["filesystem.restore"] = static (f, a, _) => f.Restore(a),
            ["filesystem.search"] = static (f, a, _) => Search.Files(f.paths, a),
            ["filesystem.search_content"] = static (f, a, _) => Search.Content(f.paths, a),
            ["filesystem.copy"] = static (f, a, _) => f.Copy(a),
            ["filesystem.move"] = static (f, a, _) => f.Move(a),
        }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The capabilities this class executes.</summary>
    public static IEnumerable<string> Operations => Table.Keys;

    private readonly PathResolver paths = paths;
    private readonly Trash trash = trash;

    private JsonNode Delete(JsonElement a, CallContext ctx) => trash.Delete(paths.Resolve(Args.Str(a, "path"), followFinal: false), ctx);

    private JsonNode Restore(JsonElement a) =>
        trash.Restore(Args.OptStr(a, "trash_id"), Args.OptStr(a, "path"), Args.OptStr(a, "destination"), Args.Bool(a, "overwrite"));

    public JsonNode Run(string op, JsonElement a, CallContext ctx)
    {
        try
        {
            return Table.TryGetValue(op, out var run) ? run(this, a, ctx) : throw new WorkerException(KruxOS.Core.Errors.Errors.UnknownCapability(op));
        }
        catch (UnauthorizedAccessException)
        {
            throw FsErrors.PermissionDenied(Args.OptStr(a, "path") ?? Args.OptStr(a, "source") ?? "?", op["filesystem.".Length..]);
        }
        catch (IOException e) when ((e.HResult & 0xFFFF) == Libc.ENOSPC)
        {
            throw FsErrors.DiskFull(Args.OptStr(a, "path") ?? Args.OptStr(a, "destination") ?? "?");
        }
    }

    internal static string Iso(DateTime utc) => new DateTimeOffset(DateTime.SpecifyKind(utc, DateTimeKind.Utc)).ToString("O", CultureInfo.InvariantCulture);

    private JsonNode Read(JsonElement a)
    {
        var p = paths.Resolve(Args.Str(a, "path"));
        if (Directory.Exists(p.Real)) throw FsErrors.Custom("IsADirectory", $"'{p.Virtual}' is a directory", "list_directory", "Use filesystem.list.", "filesystem.list", ("path", p.Virtual));
        var binary = string.Equals(Args.OptStr(a, "encoding"), "binary", StringComparison.OrdinalIgnoreCase);
        var offset = Math.Max(0, Args.OptLong(a, "offset") ?? 0);
        var limit = Math.Clamp(Args.OptLong(a, "limit") ?? ReadCap, 0, ReadCap);
        using var handle = paths.Open(p, Libc.O_RDONLY);
        using var fs = new FileStream(handle, FileAccess.Read, bufferSize: 0);
        var size = fs.Length;
        var start = Math.Min(offset, size);
        var count = (int)Math.Min(limit, size - start);
        var buffer = new byte[count];
        fs.Position = start;
        fs.ReadExactly(buffer);
        // Checksum of the whole file, from the same open file (so it describes what was read).
        string checksum;
        if (start == 0 && count == size) checksum = Convert.ToHexStringLower(SHA256.HashData(buffer));
        else { fs.Position = 0; checksum = Convert.ToHexStringLower(SHA256.HashData(fs)); }
        string content;
        if (binary) content = Convert.ToBase64String(buffer);
        else
        {
            try { content = StrictUtf8.GetString(buffer); }
            catch (DecoderFallbackException) { throw FsErrors.Encoding(p.Virtual); }
        }
        return new JsonObject
        {
            ["path"] = p.Virtual,
            ["content"] = content,
            ["encoding"] = binary ? "binary" : "utf-8",
            ["size"] = size,
            ["offset"] = start,
            ["bytes_read"] = count,
            ["modified"] = Iso(File.GetLastWriteTimeUtc(handle)),
            ["checksum"] = checksum,
            ["truncated"] = start + count < size,
        };
    }

    private static byte[] Decode(JsonElement a, string field)
    {
        var content = Args.Str(a, field);
        if (!string.Equals(Args.OptStr(a, "encoding"), "binary", StringComparison.OrdinalIgnoreCase)) return Encoding.UTF8.GetBytes(content);
        try { return Convert.FromBase64String(content); }
        catch (FormatException) { throw FsErrors.InvalidInput(field, "is not valid base64 (encoding=binary)"); }
    }

    private JsonNode Write(JsonElement a)
    {
        var p = paths.Resolve(Args.Str(a, "path"));
        PathResolver.RequireWritable(p, "write");
        var bytes = Decode(a, "content");
        var parent = Path.GetDirectoryName(p.Real)!;
        if (!Directory.Exists(parent))
        {
            if (!Args.Bool(a, "create_parents")) throw FsErrors.ParentNotFound(p.Virtual);
            CreateParents(p);
        }
        if (Directory.Exists(p.Real)) throw FsErrors.Custom("IsADirectory", $"'{p.Virtual}' is a directory", "choose_path", "Write to a file path.", null, ("path", p.Virtual));
        AtomicWrite(p, bytes);
        return new JsonObject { ["path"] = p.Virtual, ["size"] = bytes.Length, ["checksum"] = Convert.ToHexStringLower(SHA256.HashData(bytes)) };
    }

    private void CreateParents(ResolvedPath p)
    {
        // Each missing directory is made from its parent's fd, never through a symlink (a link planted meanwhile fails
        // the call), and the parent is re-checked afterwards.
        var parentVirtual = p.Virtual[..p.Virtual.LastIndexOf('/')];
        var parent = paths.Resolve(parentVirtual);
        paths.CreateDirectories(parent);
        var again = paths.Resolve(parentVirtual);
        if (again.Real != parent.Real) throw FsErrors.OutOfScope(p.Virtual, "the parent changed during the call");
    }

    /// <summary>Writes a temp file beside the target and renames it over, both relative to the parent's fd.</summary>
    internal void AtomicWrite(ResolvedPath p, byte[] bytes)
    {
        var dirfd = paths.OpenParent(p);
        var temp = AtomicWrites.TempNameFor(p.Name);
        try
        {
            var fd = Libc.OpenAt2(dirfd, temp, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL, 0x1A4,
                Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_SYMLINKS);
            if (fd < 0) throw -fd == Libc.EROFS || -fd == Libc.EACCES ? FsErrors.PermissionDenied(p.Virtual, "write") : FsErrors.Custom("IoError", $"cannot create a temporary file for '{p.Virtual}' (errno {-fd})", "retry", "Try again.");
            using (var fs = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, true), FileAccess.Write, bufferSize: 0))
            {
                fs.Write(bytes);
                fs.Flush(flushToDisk: true);
            }
            // Watchers report the rename as a create or a modify of the target, never the temp file.
            atomicWrites.Renaming(Path.Combine(Path.GetDirectoryName(p.Real)!, temp), File.Exists(p.Real));
            if (Libc.renameat(dirfd, temp, dirfd, p.Name) != 0)
            {
                var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                Libc.unlinkat(dirfd, temp, 0);
                throw errno == Libc.EISDIR ? FsErrors.Custom("IsADirectory", $"'{p.Virtual}' is a directory", "choose_path", "Write to a file path.")
                    : FsErrors.PermissionDenied(p.Virtual, "write");
            }
        }
        catch (IOException e) when ((e.HResult & 0xFFFF) == Libc.ENOSPC)
        {
            Libc.unlinkat(dirfd, temp, 0);
            throw FsErrors.DiskFull(p.Virtual);
        }
        finally { Libc.close(dirfd); }
    }

    private JsonNode Append(JsonElement a)
    {
        var p = paths.Resolve(Args.Str(a, "path"));
        PathResolver.RequireWritable(p, "append to");
        if (!Directory.Exists(Path.GetDirectoryName(p.Real)!))
        {
            if (!Args.Bool(a, "create_parents")) throw FsErrors.ParentNotFound(p.Virtual);
            CreateParents(p);
        }
        var bytes = Decode(a, "content");
        using var handle = paths.Open(p, Libc.O_WRONLY | Libc.O_APPEND | Libc.O_CREAT);
        using var fs = new FileStream(handle, FileAccess.Write, bufferSize: 0);
        fs.Write(bytes);
        fs.Flush(flushToDisk: false);
        return new JsonObject { ["path"] = p.Virtual, ["appended_bytes"] = bytes.Length, ["new_size"] = RandomAccess.GetLength(handle) };
    }

    private JsonNode Edit(JsonElement a)
    {
        var pattern = Args.Str(a, "pattern");
        var replacement = Args.Str(a, "replace");
        var useRegex = Args.Bool(a, "regex");
        var replaceAll = Args.Bool(a, "replace_all");
        var expected = Args.OptLong(a, "expected_replacements");
        var dryRun = Args.Bool(a, "dry_run");
        var includeGlob = Args.OptStr(a, "include_glob");
        if (replaceAll && expected is not null) throw FsErrors.InvalidInput("expected_replacements", "give either expected_replacements or replace_all, not both");
        if (pattern.Length == 0) throw FsErrors.InvalidInput("pattern", "must not be empty");
        expected ??= replaceAll ? null : 1;
        Regex? regex = null;
        if (useRegex)
        {
            try { regex = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Multiline, TimeSpan.FromSeconds(2)); }
            catch (ArgumentException e) { throw FsErrors.InvalidPattern(pattern, e.Message); }
        }

        var root = paths.Resolve(Args.Str(a, "path"));
        var targets = new List<ResolvedPath>();
        var skipped = new JsonArray();
        if (includeGlob is not null)
        {
            if (!Directory.Exists(root.Real)) throw FsErrors.DirectoryNotFound(root.Virtual);
            var glob = Glob.Parse(includeGlob);
            var all = Args.Bool(a, "include_all");
            foreach (var (entry, rel) in Walker.Walk(root.Real, includeHidden: all, defaultExclusions: !all))
                if (entry is FileInfo f && f.LinkTarget is null && glob.IsMatch(rel)) targets.Add(paths.Resolve(root.Virtual + "/" + rel));
        }
        else
        {
            if (!File.Exists(root.Real)) throw FsErrors.NotFound(root.Virtual);
            targets.Add(root);
        }

        var changes = new List<(ResolvedPath Path, string Before, string After, int Count)>();
        foreach (var t in targets)
        {
            var info = new FileInfo(t.Real);
            if (info.Length > EditMaxFileBytes) { skipped.Add(new JsonObject { ["path"] = t.Virtual, ["reason"] = "too_large" }); continue; }
            byte[] raw;
            using (var h = paths.Open(t, Libc.O_RDONLY)) { raw = new byte[RandomAccess.GetLength(h)]; RandomAccess.Read(h, raw, 0); }
            string text;
            try { text = Array.IndexOf(raw, (byte)0) >= 0 ? throw new DecoderFallbackException() : StrictUtf8.GetString(raw); }
            catch (DecoderFallbackException) { skipped.Add(new JsonObject { ["path"] = t.Virtual, ["reason"] = "binary" }); continue; }
            int count;
            string after;
            try
            {
                if (regex is not null)
                {
                    count = regex.Count(text);
                    after = count == 0 ? text : regex.Replace(text, replacement);
                }
                else
                {
                    count = CountLiteral(text, pattern);
                    after = count == 0 ? text : text.Replace(pattern, replacement, StringComparison.Ordinal);
                }
            }
            catch (RegexMatchTimeoutException) { throw FsErrors.InvalidPattern(pattern, "matching took too long"); }
            if (count > 0) changes.Add((t, text, after, count));
        }

        var total = changes.Sum(c => c.Count);
        if (expected is { } want && total != want)
        {
            throw FsErrors.Custom("ReplacementCountMismatch",
                $"Expected {want} replacement(s) but the pattern matches {total} time(s); nothing was written",
                "adjust_expectation", "Make the pattern more specific, pass the right expected_replacements, or use replace_all=true.", null,
                ("expected", want), ("actual", total), ("files", changes.Select(c => c.Path.Virtual).ToArray()));
        }
        if (total == 0 && replaceAll)
            throw FsErrors.Custom("NoMatches", $"The pattern '{pattern}' matches nothing; nothing was written", "check_pattern",
                "Search first to see what the file contains.", "filesystem.search_content", ("pattern", pattern));

        var perFile = new JsonArray();
        var diff = new StringBuilder();
        foreach (var c in changes)
        {
            if (!dryRun)
            {
                foreach (var w in new[] { c.Path }) PathResolver.RequireWritable(w, "edit");
                AtomicWrite(c.Path, Encoding.UTF8.GetBytes(c.After));
            }
            perFile.Add(new JsonObject { ["path"] = c.Path.Virtual, ["replacements"] = c.Count });
            diff.Append(LineDiff.Unified(c.Path.Virtual, c.Before, c.After));
        }
        return new JsonObject
        {
            ["applied"] = dryRun ? "preview" : skipped.Count > 0 ? "partial" : "full",
            ["total_replacements"] = total,
            ["files_changed"] = dryRun ? 0 : changes.Count,
            ["per_file"] = perFile,
            ["skipped"] = skipped,
            ["diff"] = diff.ToString(),
        };
    }

    private static int CountLiteral(string text, string pattern)
    {
        var count = 0;
        for (var i = text.IndexOf(pattern, StringComparison.Ordinal); i >= 0; i = text.IndexOf(pattern, i + pattern.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    internal static string TypeOf(FileSystemInfo e) => e.LinkTarget is not null ? "symlink" : e is DirectoryInfo ? "directory" : "file";

    private JsonNode List(JsonElement a)
    {
        var p = paths.Resolve(Args.Str(a, "path"));
        if (File.Exists(p.Real)) throw FsErrors.NotADirectory(p.Virtual);
        if (!Directory.Exists(p.Real)) throw FsErrors.DirectoryNotFound(p.Virtual);
        var hidden = Args.Bool(a, "include_hidden");
        var sortBy = Args.OptStr(a, "sort_by") ?? "name";
        var desc = sortBy.StartsWith('-');
        var key = sortBy.TrimStart('-');
        if (key is not ("name" or "size" or "modified")) throw FsErrors.InvalidInput("sort_by", "must be name, size or modified, optionally prefixed with '-'");
        // Listed through the fd of the directory opened without following a link, not through its path again.
        var (dir, dirPath) = paths.OpenDirectory(p);
        List<(FileSystemInfo Info, string Type, long Size, DateTime Modified)> entries;
        using (dir)
        {
            entries = new DirectoryInfo(dirPath).EnumerateFileSystemInfos()
                .Where(e => hidden || !e.Name.StartsWith('.'))
                .Select(e => (Info: e, Type: TypeOf(e), Size: e is FileInfo f && f.LinkTarget is null ? f.Length : 0L, Modified: e.LastWriteTimeUtc))
                .ToList();
        }
        IEnumerable<(FileSystemInfo Info, string Type, long Size, DateTime Modified)> ordered = key switch
        {
            "size" => desc ? entries.OrderByDescending(e => e.Size) : entries.OrderBy(e => e.Size),
            "modified" => desc ? entries.OrderByDescending(e => e.Modified) : entries.OrderBy(e => e.Modified),
            _ => desc ? entries.OrderByDescending(e => e.Info.Name, StringComparer.Ordinal) : entries.OrderBy(e => e.Info.Name, StringComparer.Ordinal),
        };
        var arr = new JsonArray();
        foreach (var e in ordered)
            arr.Add(new JsonObject { ["name"] = e.Info.Name, ["type"] = e.Type, ["size"] = e.Size, ["modified"] = Iso(e.Modified) });
        return new JsonObject { ["entries"] = arr, ["total"] = entries.Count, ["path"] = p.Virtual };
    }

    private JsonNode Stat(JsonElement a)
    {
        var p = paths.Resolve(Args.Str(a, "path"), followFinal: false);
        // Looked up from the fd of its parent (opened without following a link), not through its path again.
        int parentFd;
        try { parentFd = p.Relative.Length == 0 ? -1 : paths.OpenParent(p); }
        catch (WorkerException e) when (e.Error.ErrorType is "FileNotFound" or "NotADirectory")
        {
            return new JsonObject { ["path"] = p.Virtual, ["exists"] = false, ["type"] = null, ["size"] = 0, ["modified"] = null, ["created"] = null, ["permissions"] = null, ["owner"] = null };
        }
        try
        {
            var at = parentFd < 0 ? p.Real : "/proc/self/fd/" + parentFd.ToString(CultureInfo.InvariantCulture) + "/" + p.Name;
            return StatAt(p, at);
        }
        finally { if (parentFd >= 0) Libc.close(parentFd); }
    }

    private static JsonNode StatAt(ResolvedPath p, string at)
    {
        FileSystemInfo info = Directory.Exists(at) && new DirectoryInfo(at).LinkTarget is null ? new DirectoryInfo(at) : new FileInfo(at);
        var exists = info.Exists || info.LinkTarget is not null;
        if (!exists) return new JsonObject { ["path"] = p.Virtual, ["exists"] = false, ["type"] = null, ["size"] = 0, ["modified"] = null, ["created"] = null, ["permissions"] = null, ["owner"] = null };
        var type = TypeOf(info);
        var mode = info.UnixFileMode;
        var perms = new StringBuilder(9);
        foreach (var (bit, ch) in new[] { (UnixFileMode.UserRead, 'r'), (UnixFileMode.UserWrite, 'w'), (UnixFileMode.UserExecute, 'x'), (UnixFileMode.GroupRead, 'r'), (UnixFileMode.GroupWrite, 'w'), (UnixFileMode.GroupExecute, 'x'), (UnixFileMode.OtherRead, 'r'), (UnixFileMode.OtherWrite, 'w'), (UnixFileMode.OtherExecute, 'x') })
            perms.Append((mode & bit) != 0 ? ch : '-');
        var result = new JsonObject
        {
            ["path"] = p.Virtual,
            ["exists"] = true,
            ["type"] = type,
            ["size"] = info is FileInfo fi && type == "file" ? fi.Length : 0,
            ["modified"] = Iso(info.LastWriteTimeUtc),
            ["created"] = Iso(info.CreationTimeUtc),
            ["permissions"] = perms.ToString(),
            ["owner"] = Owner(at),
            ["read_only_mount"] = p.Root.ReadOnly,
        };
        if (type == "symlink") result["link_target"] = info.LinkTarget;
        return result;
    }

    private static string Owner(string real)
    {
        // Inside the sandbox the agent's own uid owns its files; anything else shows as a number.
        var uid = Libc.OwnerUid(real);
        return uid is null ? "unknown" : uid == Libc.geteuid() ? "agent" : uid.Value.ToString(CultureInfo.InvariantCulture);
    }

    private JsonNode Copy(JsonElement a)
    {
        var src = paths.Resolve(Args.Str(a, "source"));
        var dst = paths.Resolve(Args.Str(a, "destination"), followFinal: false);
        var overwrite = Args.Bool(a, "overwrite");
        PathResolver.RequireWritable(dst, "copy to");
        if (Directory.Exists(src.Real))
        {
            if (Directory.Exists(dst.Real) || File.Exists(dst.Real)) throw FsErrors.DestinationExists(dst.Virtual);
            if (!Directory.Exists(Path.GetDirectoryName(dst.Real)!)) throw FsErrors.ParentNotFound(dst.Virtual);
            long total = 0;
            Directory.CreateDirectory(dst.Real);
            foreach (var (entry, rel) in Walker.Walk(src.Real, includeHidden: true))
            {
                var target = Path.Combine(dst.Real, rel);
                if (entry.LinkTarget is not null) File.CreateSymbolicLink(target, entry.LinkTarget);
                else if (entry is DirectoryInfo) Directory.CreateDirectory(target);
                else { File.Copy(entry.FullName, target); total += ((FileInfo)entry).Length; }
            }
            return new JsonObject { ["source"] = src.Virtual, ["destination"] = dst.Virtual, ["size"] = total, ["checksum"] = null, ["type"] = "directory" };
        }
        if (!File.Exists(src.Real)) throw FsErrors.NotFound(src.Virtual);
        if ((File.Exists(dst.Real) || Directory.Exists(dst.Real)) && !overwrite) throw FsErrors.DestinationExists(dst.Virtual);
        if (!Directory.Exists(Path.GetDirectoryName(dst.Real)!)) throw FsErrors.ParentNotFound(dst.Virtual);
        byte[] bytes;
        using (var h = paths.Open(src, Libc.O_RDONLY))
        {
            var len = RandomAccess.GetLength(h);
            if (len > int.MaxValue / 2) throw FsErrors.Custom("FileTooLarge", $"'{src.Virtual}' is too large to copy in one call", "use_process", "Use process.run with cp for very large files.", "process.run");
            bytes = new byte[len];
            RandomAccess.Read(h, bytes, 0);
        }
        AtomicWrite(paths.Resolve(dst.Virtual), bytes);
        return new JsonObject { ["source"] = src.Virtual, ["destination"] = dst.Virtual, ["size"] = bytes.Length, ["checksum"] = Convert.ToHexStringLower(SHA256.HashData(bytes)), ["type"] = "file" };
    }

    private JsonNode Move(JsonElement a)
    {
        var src = paths.Resolve(Args.Str(a, "source"), followFinal: false);
        var dst = paths.Resolve(Args.Str(a, "destination"), followFinal: false);
        var overwrite = Args.Bool(a, "overwrite");
        PathResolver.RequireWritable(src, "move");
        PathResolver.RequireWritable(dst, "move to");
        var srcInfo = new FileInfo(src.Real);
        var isDir = Directory.Exists(src.Real) && srcInfo.LinkTarget is null;
        if (!isDir && !srcInfo.Exists && srcInfo.LinkTarget is null) throw FsErrors.NotFound(src.Virtual);
        if (src.Real == paths.Workspace.Real || paths.Roots.Any(r => r.Real == src.Real)) throw FsErrors.PermissionDenied(src.Virtual, "move a root");
        if (isDir && (dst.Real + "/").StartsWith(src.Real + "/", StringComparison.Ordinal)) throw FsErrors.InvalidInput("destination", "cannot move a directory into itself");
        var dstExists = File.Exists(dst.Real) || Directory.Exists(dst.Real);
        if (dstExists && !overwrite) throw FsErrors.DestinationExists(dst.Virtual);
        if (!Directory.Exists(Path.GetDirectoryName(dst.Real)!)) throw FsErrors.ParentNotFound(dst.Virtual);
        long size = isDir ? Walker.Walk(src.Real, true).Sum(e => e.Entry is FileInfo f && f.LinkTarget is null ? f.Length : 0) : srcInfo.LinkTarget is null ? srcInfo.Length : 0;
        if (isDir && dstExists) throw FsErrors.DestinationExists(dst.Virtual);
        // Decided entry by entry (ADR 0028): the rename takes the whole tree, so an entry that appeared after the
        // decision would move undecided. Refuse instead; nothing has moved.
        if (isDir && Walker.FirstUndecided(src.Real) is { } late)
            throw FsErrors.Custom("DirectoryChanged", $"'{paths.ToVirtual(late)}' appeared below '{src.Virtual}' after the move was decided; nothing was moved",
                "retry", "Call again: the move is decided on the directory as it is then.", "filesystem.move", ("path", paths.ToVirtual(late)));
        Rename(src, dst, isDir, overwrite);
        return new JsonObject { ["source"] = src.Virtual, ["destination"] = dst.Virtual, ["size"] = size };
    }

    // renameat2 between the fds of the two parents, each opened without following a link: a link swapped into either
    // path after the checks fails the move instead of redirecting it. Between the workspace and a mount (EXDEV) a file
    // is copied and deleted by path, as before; a directory is refused.
    private void Rename(ResolvedPath src, ResolvedPath dst, bool isDir, bool overwrite)
    {
        var srcDir = paths.OpenParent(src);
        try
        {
            var dstDir = paths.OpenParent(dst);
            try
            {
                if (Libc.renameat2(srcDir, src.Name, dstDir, dst.Name, isDir || !overwrite ? Libc.RENAME_NOREPLACE : 0) == 0) return;
                var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
                switch (errno)
                {
                    case Libc.EXDEV when isDir:
                        throw FsErrors.Custom("CrossMountMove", "Directories cannot be moved between the workspace and a mount", "copy_then_delete",
                            "Copy the directory, then delete the source.", "filesystem.copy");
                    case Libc.EXDEV:
                        File.Move(src.Real, dst.Real, overwrite);
                        return;
                    case Libc.EEXIST or Libc.ENOTEMPTY or Libc.EISDIR or Libc.ENOTDIR:
                        throw FsErrors.DestinationExists(dst.Virtual);
                    case Libc.ENOENT:
                        throw FsErrors.NotFound(src.Virtual);
                    case Libc.EROFS or Libc.EACCES or Libc.EPERM:
                        throw FsErrors.PermissionDenied(src.Virtual, "move");
                    case Libc.ENOSPC:
                        throw FsErrors.DiskFull(dst.Virtual);
                    default:
                        throw FsErrors.Custom("IoError", $"Cannot move '{src.Virtual}' to '{dst.Virtual}' (errno {errno})", "retry", "Try again.", null, ("path", src.Virtual));
                }
            }
            finally { Libc.close(dstDir); }
        }
        finally { Libc.close(srcDir); }
    }
}
