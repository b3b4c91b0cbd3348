using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.SandboxWorker.Native;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Paths;

/// <summary>
/// <c>paths.process</c>: where a <c>process.run</c> command will start and which file it will execute, found the way
/// the command's own sandbox will find them — in the sandbox's view of the file system (the same system tree,
/// workspace and mounts; no host path exists here) and with the agent's own rights (this process runs as the agent's
/// uid, so <c>realpath</c> and <c>access</c> need the agent's search and execute permission). Root never resolves a
/// path the agent wrote: a symbolic link to a host directory cannot tell the agent whether that directory exists,
/// because here it resolves to nothing either way.
/// <para>Only what a <c>process.run</c> sandbox shows counts: a command must resolve into the system tree
/// (<c>/usr</c>) or the agent's workspace and mounts, never into the worker's own runtime, trash or relay.</para>
/// </summary>
internal static class ProcessPaths
{
    /// <summary>The PATH every <c>process.run</c> command gets (the gateway sets the same list).</summary>
    private static readonly string[] SearchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"];

    /// <summary>
    /// Resolves <c>{working_directory, command}</c> (the working directory already normalised and under a root by the
    /// gateway) into <c>{working_directory, working_directory_real, command_real}</c>, or
    /// <c>{working_directory_problem: outside | missing | denied}</c>. <c>command_real</c> is null when the command is
    /// not an executable file the agent can run.
    /// </summary>
    public static JsonNode Resolve(PathResolver paths, JsonElement args)
    {
        var directory = args.TryGetProperty("working_directory", out var w) && w.ValueKind == JsonValueKind.String ? w.GetString()! : string.Empty;
        var command = args.TryGetProperty("command", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString()! : string.Empty;
        if (!directory.StartsWith('/') || directory.Contains('\0')) throw FsErrors.InvalidInput("working_directory", "must be an absolute path without NUL");
        if (command.Length == 0 || command.Contains('\0')) throw FsErrors.InvalidInput("command", "must not be empty or contain NUL");

        if (paths.RealOf(directory) is not { } start) return Problem("outside");
        // The kernel's own resolution, in this view, as the agent: no lexical shortcut through a dangling link.
        if (Libc.RealPath(start) is not { } real) return Problem("missing");
        if (paths.FindRoot(real) is null) return Problem("outside");
        if (!Directory.Exists(real)) return Problem("missing");
        if (Libc.access(real, Libc.X_OK) != 0) return Problem("denied");
        return new JsonObject
        {
            ["working_directory"] = paths.ToVirtual(real),
            ["working_directory_real"] = real,
            ["command_real"] = FindCommand(paths, command, real),
        };
    }

    private static JsonObject Problem(string problem) => new() { ["working_directory_problem"] = problem };

    private static string? FindCommand(PathResolver paths, string command, string directory)
    {
        if (!command.Contains('/'))
        {
            foreach (var dir in SearchPath)
                if (Executable(paths, dir + "/" + command) is { } found) return found;
            return null;
        }
        if (!command.StartsWith('/')) return Executable(paths, directory + "/" + command);
        return Executable(paths, paths.RealOf(command) ?? command);
    }

    // The real path of an executable regular file the agent may run, reached as the kernel would reach it.
    private static string? Executable(PathResolver paths, string path)
    {
        if (Libc.RealPath(path) is not { } real) return null;
        if (!real.StartsWith("/usr/", StringComparison.Ordinal) && paths.FindRoot(real) is null) return null;
        var fd = Libc.open(real, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        if (fd < 0) return null;
        try
        {
            if (!Libc.IsRegularFile(fd)) return null;
        }
        finally { Libc.close(fd); }
        return Libc.access(real, Libc.X_OK) == 0 ? real : null;
    }
}
