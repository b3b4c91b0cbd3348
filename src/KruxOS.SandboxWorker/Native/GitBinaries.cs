namespace KruxOS.SandboxWorker.Native;

/// <summary>
/// The only programs the worker may execute: the git binary, git's own helpers (its exec path) and the
/// ELF interpreter they need (the kernel opens it for execution too, so Landlock must allow it).
/// </summary>
/// <param name="Git">Absolute path of <c>git</c>.</param>
/// <param name="ExecPath">git's helper directory (passed to git as GIT_EXEC_PATH so it uses no other).</param>
/// <param name="Interpreter">The dynamic loader named by git's PT_INTERP, or null for a static binary.</param>
internal sealed record GitBinaries(string Git, string ExecPath, string? Interpreter)
{
    private static readonly string[] GitCandidates = ["/usr/bin/git", "/usr/local/bin/git", "/bin/git"];
    private static readonly string[] ExecPathCandidates = ["/usr/lib/git-core", "/usr/libexec/git-core", "/usr/local/libexec/git-core"];

    /// <summary>Finds git in the sandbox's read-only /usr; null when it is not installed.</summary>
    public static GitBinaries? Locate()
    {
        var git = GitCandidates.FirstOrDefault(File.Exists);
        var exec = ExecPathCandidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "git")));
        if (git is null || exec is null) return null;
        return new GitBinaries(git, exec, Elf.Interpreter(git));
    }

    /// <summary>Landlock execute rules: (path, EXECUTE, whether the path is a directory).</summary>
    public IEnumerable<(string Path, ulong Access, bool Directory)> ExecuteRules()
    {
        yield return (Git, Landlock.Execute, false);
        yield return (ExecPath, Landlock.Execute, true);
        if (Interpreter is not null) yield return (Interpreter, Landlock.Execute, false);
    }
}

/// <summary>Reads the PT_INTERP entry of a 64-bit little-endian ELF file.</summary>
internal static class Elf
{
    public static string? Interpreter(string path)
    {
        try
        {
            using var f = File.OpenRead(path);
            Span<byte> header = stackalloc byte[64];
            if (f.Read(header) != 64 || header[0] != 0x7F || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F' || header[4] != 2 || header[5] != 1)
                return null;
            var phoff = BitConverter.ToInt64(header[0x20..]);
            var phentsize = BitConverter.ToUInt16(header[0x36..]);
            var phnum = BitConverter.ToUInt16(header[0x38..]);
            if (phentsize < 56 || phnum > 256) return null;
            Span<byte> ph = stackalloc byte[56];
            for (var i = 0; i < phnum; i++)
            {
                f.Position = phoff + (long)i * phentsize;
                if (f.Read(ph) != 56) return null;
                if (BitConverter.ToUInt32(ph) != 3) continue; // PT_INTERP
                var offset = BitConverter.ToInt64(ph[8..]);
                var size = BitConverter.ToInt64(ph[0x20..]);
                if (size is <= 1 or > 4096) return null;
                var name = new byte[size];
                f.Position = offset;
                f.ReadExactly(name);
                return System.Text.Encoding.UTF8.GetString(name, 0, (int)size - 1);
            }
            return null;
        }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }
}
