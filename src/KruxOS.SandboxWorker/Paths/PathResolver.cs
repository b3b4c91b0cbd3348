using KruxOS.SandboxWorker.Native;
using KruxOS.SandboxWorker.Protocol;
using Microsoft.Win32.SafeHandles;

namespace KruxOS.SandboxWorker.Paths;

/// <summary>One directory tree the agent may reach: its workspace or an operator mount.</summary>
/// <param name="Virtual">The path the agent uses, e.g. <c>/workspace</c> or <c>/mnt/data</c>.</param>
/// <param name="Real">The canonical path of that tree as this process sees it.</param>
/// <param name="ReadOnly">Whether writes are refused.</param>
internal sealed record Root(string Virtual, string Real, bool ReadOnly);

/// <summary>A path after canonicalisation: inside exactly one root.</summary>
internal sealed record ResolvedPath(string Virtual, string Real, Root Root, string Relative)
{
    public string Name => Path.GetFileName(Real);
}

/// <summary>
/// Maps agent paths onto the roots: lexical normalisation (relative paths are under /workspace, `..`
/// may not leave a root), then symlink resolution with realpath and a containment check. Opening
/// goes through openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS from the root's directory fd, so a
/// symlink swapped in after the check makes the open fail instead of following it.
/// <para><b>Decided paths (ADR 0023).</b> When the gateway's policy decides on a call's paths, it first asks the
/// worker to resolve them (<c>paths.resolve</c>, <see cref="PathQueries"/>), decides on the canonical paths, and runs
/// the call with those paths and <c>ctx.paths_decided</c> set. For such a call (<see cref="Decided"/>) a path must
/// resolve to itself: a symbolic link that appeared anywhere in it since the decision makes the call fail with
/// <c>PathOutOfScope</c> instead of being followed, and the opens that follow never follow one either.</para>
/// </summary>
internal sealed class PathResolver
{
    private static readonly AsyncLocal<bool> DecidedCall = new();

    /// <summary>
    /// True while the current request runs on paths the gateway resolved and decided on: set by the host for the request,
    /// it flows into every operation of that request (file, git and trash operations alike) and no further.
    /// </summary>
    public static bool Decided
    {
        get => DecidedCall.Value;
        set => DecidedCall.Value = value;
    }

    private readonly Root[] _roots;

    public PathResolver(IEnumerable<Root> roots)
    {
        _roots = [.. roots.OrderByDescending(r => r.Virtual.Length)];
        Workspace = _roots.Single(r => r.Virtual == "/workspace");
    }

    public Root Workspace { get; }

    public IReadOnlyList<Root> Roots => _roots;

    /// <summary>Canonicalises <paramref name="input"/>; with <paramref name="followFinal"/> false a final symlink is kept as itself.</summary>
    public ResolvedPath Resolve(string input, bool followFinal = true)
    {
        if (string.IsNullOrEmpty(input)) throw FsErrors.InvalidInput("path", "must not be empty");
        if (input.Contains('\0')) throw FsErrors.InvalidInput("path", "must not contain NUL");
        var combined = input.StartsWith('/') ? input : "/workspace/" + input;
        var stack = new List<string>();
        foreach (var part in combined.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                if (stack.Count == 0) throw FsErrors.OutOfScope(input, "'..' leaves the file system root");
                stack.RemoveAt(stack.Count - 1);
                continue;
            }
            stack.Add(part);
        }
        var normalized = "/" + string.Join('/', stack);
        var root = _roots.FirstOrDefault(r => normalized == r.Virtual || normalized.StartsWith(r.Virtual + "/", StringComparison.Ordinal))
            ?? throw FsErrors.OutOfScope(input, "not under /workspace or a mount");
        var relative = normalized[root.Virtual.Length..].TrimStart('/');
        var real = relative.Length == 0 ? root.Real : root.Real + "/" + relative;

        var canonical = Canonicalize(real, followFinal || relative.Length == 0);
        var owner = FindRoot(canonical) ?? throw FsErrors.OutOfScope(input, "a symbolic link leads outside");
        var rel = canonical.Length == owner.Real.Length ? string.Empty : canonical[(owner.Real.Length + 1)..];
        var resolved = new ResolvedPath(rel.Length == 0 ? owner.Virtual : owner.Virtual + "/" + rel, canonical, owner, rel);
        // A decided path was canonical when the policy saw it: if it resolves elsewhere now, a link changed under it.
        if (Decided && !string.Equals(resolved.Virtual, normalized, StringComparison.Ordinal))
            throw FsErrors.OutOfScope(input, $"it now leads to '{resolved.Virtual}': a symbolic link in it changed after the call was decided, and is not followed");
        return resolved;
    }

    /// <summary>The root a canonical real path lies in, or null.</summary>
    public Root? FindRoot(string canonical) =>
        _roots.FirstOrDefault(r => canonical == r.Real || canonical.StartsWith(r.Real + "/", StringComparison.Ordinal));

    /// <summary>Where an agent path under one of the roots is in this process's view (the same path when confined); null elsewhere.</summary>
    public string? RealOf(string agentPath)
    {
        var root = _roots.FirstOrDefault(r => agentPath == r.Virtual || agentPath.StartsWith(r.Virtual + "/", StringComparison.Ordinal));
        return root is null ? null : root.Real + agentPath[root.Virtual.Length..];
    }

    /// <summary>The agent-visible path of a real path known to be inside a root.</summary>
    public string ToVirtual(string real)
    {
        var root = FindRoot(real) ?? throw FsErrors.OutOfScope(real, "not under a root");
        return real.Length == root.Real.Length ? root.Virtual : root.Virtual + real[root.Real.Length..];
    }

    private static string Canonicalize(string real, bool followFinal, int depth = 0)
    {
        if (depth > 40) return "/\0loop"; // never inside a root: refused as out of scope
        if (!followFinal)
        {
            var parent = Path.GetDirectoryName(real) ?? "/";
            return Join(Canonicalize(parent, true, depth), Path.GetFileName(real));
        }
        var probe = real;
        var tail = new Stack<string>();
        while (true)
        {
            var rp = Libc.RealPath(probe);
            if (rp is not null)
            {
                var result = rp;
                while (tail.Count > 0) result = Join(result, tail.Pop());
                return result;
            }
            // realpath fails for a dangling symlink too: follow its target lexically so it is judged by where it points.
            if (new FileInfo(probe).LinkTarget is { } target)
            {
                var dir = Path.GetDirectoryName(probe) ?? "/";
                var next = Normalize(target.StartsWith('/') ? target : Join(dir, target));
                while (tail.Count > 0) next = Join(next, tail.Pop());
                return Canonicalize(next, true, depth + 1);
            }
            if (probe == "/") return real;
            tail.Push(Path.GetFileName(probe));
            probe = Path.GetDirectoryName(probe) ?? "/";
        }
    }

    private static string Normalize(string path)
    {
        var stack = new List<string>();
        foreach (var part in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..") { if (stack.Count > 0) stack.RemoveAt(stack.Count - 1); continue; }
            stack.Add(part);
        }
        return "/" + string.Join('/', stack);
    }

    private static string Join(string a, string b) => a == "/" ? "/" + b : a + "/" + b;

    /// <summary>Throws PermissionDenied when the path's root is read-only.</summary>
    public static void RequireWritable(ResolvedPath p, string operation)
    {
        if (p.Root.ReadOnly) throw FsErrors.PermissionDenied(p.Virtual, operation + " (read-only mount)");
    }

    /// <summary>Opens a file beneath its root without following any symlink.</summary>
    public SafeFileHandle Open(ResolvedPath p, int flags, int mode = 0x1A4 /* 0644 */)
    {
        var fd = OpenRaw(p.Root, p.Relative.Length == 0 ? "." : p.Relative, flags, mode, p.Virtual);
        return new SafeFileHandle(fd, ownsHandle: true);
    }

    /// <summary>
    /// Opens the directory <paramref name="p"/> (O_PATH, no symlink followed on the way) and returns the fd with a path
    /// that names exactly that directory, <c>/proc/self/fd/N</c>: listing or walking it through that path never re-walks
    /// the directory's own path, so a link swapped into it meanwhile is not followed. The caller disposes the handle.
    /// </summary>
    public (SafeFileHandle Handle, string Path) OpenDirectory(ResolvedPath p)
    {
        var fd = OpenRaw(p.Root, p.Relative.Length == 0 ? "." : p.Relative, Libc.O_PATH | Libc.O_DIRECTORY, 0, p.Virtual);
        return (new SafeFileHandle(fd, ownsHandle: true), "/proc/self/fd/" + fd.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>
    /// Creates <paramref name="p"/> and its missing ancestors below its root, one component at a time from the root's fd
    /// (mkdirat, then openat2 without following a symlink): a link planted or swapped in on the way fails the call
    /// instead of sending the directories somewhere else.
    /// </summary>
    public void CreateDirectories(ResolvedPath p)
    {
        var fd = Libc.open(p.Root.Real, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw FsErrors.PermissionDenied(p.Root.Virtual, "open");
        try
        {
            foreach (var name in p.Relative.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                if (Libc.mkdirat(fd, name, 0x1ED /* 0755 */) != 0 && System.Runtime.InteropServices.Marshal.GetLastPInvokeError() is var e && e != Libc.EEXIST)
                    throw e is Libc.EROFS or Libc.EACCES or Libc.EPERM ? FsErrors.PermissionDenied(p.Virtual, "create directory")
                        : e == Libc.ENOSPC ? FsErrors.DiskFull(p.Virtual)
                        : FsErrors.Custom("IoError", $"Cannot create a directory of '{p.Virtual}' (errno {e})", "retry", "Try again.", null, ("path", p.Virtual));
                var next = Libc.OpenAt2(fd, name, Libc.O_PATH | Libc.O_DIRECTORY, 0, Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_SYMLINKS | Libc.RESOLVE_NO_MAGICLINKS);
                if (next < 0)
                    throw -next is Libc.ELOOP or Libc.ENOTDIR
                        ? FsErrors.OutOfScope(p.Virtual, "a symbolic link or a file is in the way of its directories")
                        : FsErrors.PermissionDenied(p.Virtual, "create directory");
                Libc.close(fd);
                fd = next;
            }
        }
        finally { Libc.close(fd); }
    }

    /// <summary>Opens the parent directory of <paramref name="p"/> as an O_PATH fd (caller closes).</summary>
    public int OpenParent(ResolvedPath p)
    {
        var parentRel = Path.GetDirectoryName(p.Relative) ?? string.Empty;
        return OpenRaw(p.Root, parentRel.Length == 0 ? "." : parentRel, Libc.O_PATH | Libc.O_DIRECTORY, 0, p.Virtual);
    }

    private static int OpenRaw(Root root, string relative, int flags, int mode, string shownPath)
    {
        var dirfd = Libc.open(root.Real, Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (dirfd < 0) throw FsErrors.PermissionDenied(root.Virtual, "open");
        int fd;
        try
        {
            fd = Libc.OpenAt2(dirfd, relative, flags, mode,
                Libc.RESOLVE_BENEATH | Libc.RESOLVE_NO_SYMLINKS | Libc.RESOLVE_NO_MAGICLINKS);
            if (fd == -Libc.ENOSYS)
            {
                // Kernel without openat2 (< 5.6): the path was checked just before; refuse a final symlink at least.
                fd = Libc.open(Path.Join(root.Real, relative), flags | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, mode);
                if (fd < 0) fd = -System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            }
        }
        finally { Libc.close(dirfd); }
        if (fd >= 0) return fd;
        throw (-fd) switch
        {
            Libc.ELOOP or Libc.EXDEV => FsErrors.OutOfScope(shownPath, "a symbolic link appeared in the path during the call"),
            Libc.ENOENT => FsErrors.NotFound(shownPath),
            Libc.ENOTDIR => FsErrors.NotADirectory(shownPath),
            Libc.EEXIST => FsErrors.DestinationExists(shownPath),
            Libc.EISDIR => FsErrors.Custom("IsADirectory", $"'{shownPath}' is a directory", "list_directory", "Use filesystem.list for directories.", "filesystem.list", ("path", shownPath)),
            Libc.EACCES or Libc.EPERM or Libc.EROFS => FsErrors.PermissionDenied(shownPath, "open"),
            Libc.ENOSPC => FsErrors.DiskFull(shownPath),
            var e => FsErrors.Custom("IoError", $"Cannot open '{shownPath}' (errno {e})", "retry", "Try again.", null, ("path", shownPath)),
        };
    }
}
