using System.Runtime.InteropServices;
using KruxOS.Sandbox;

namespace KruxOS.Gateway.Hosting;

/// <summary>
/// Keeps the gateway's data directory private (docs/security.md, "Data directory"): the directory itself is
/// 0700 — 0711 only while an auth socket inside it admits other uids (<see cref="GatewaySettings.AuthSocketUids"/>),
/// which lets them traverse it but not list it — and every store the gateway keeps in it is 0600 (files) or 0700
/// (directories): the journal (<c>kruxos.db</c> with its -wal/-shm), the audit directory, policies, the sandbox's
/// own files, the workspace and trash roots, the first-start seed config. It runs before anything else at start,
/// so a fresh directory is created private and an install made by an earlier version (0755/0644) is tightened.
/// Agents' own trees (<c>workspace/&lt;agent&gt;</c>, <c>trash/&lt;agent&gt;</c>) are not walked: their content is the
/// agents' and is hostile input to root.
/// </summary>
public static partial class DataDirectory
{
    /// <summary>The mode the data directory must have under these settings.</summary>
    public static UnixFileMode ModeFor(string dataDir, GatewaySettings gateway)
    {
        var full = Path.GetFullPath(dataDir).TrimEnd('/') + "/";
        var sharedSocketInside = gateway.AuthSocketUids.Count > 0 && Path.GetFullPath(gateway.AuthSocketPath(dataDir)).StartsWith(full, StringComparison.Ordinal);
        return sharedSocketInside
            ? PrivateFiles.DirectoryMode | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute
            : PrivateFiles.DirectoryMode;
    }

    /// <summary>Creates or tightens the data directory and the stores in it. Throws <see cref="IOException"/> when that is impossible.</summary>
    public static void Secure(string dataDir, GatewaySettings gateway)
    {
        if (OperatingSystem.IsWindows()) { Directory.CreateDirectory(dataDir); return; }
        var mode = ModeFor(dataDir, gateway);
        if (!Directory.Exists(dataDir)) Directory.CreateDirectory(dataDir, mode);
        PrivateFiles.SetDirectoryMode(dataDir, mode);

        foreach (var file in new[] { "kruxos.db", "kruxos.db-wal", "kruxos.db-shm", "kruxos.db-journal", "admin.mcp.json" })
            PrivateFiles.Restrict(Path.Combine(dataDir, file), 0);
        // The gateway's own trees: every directory 0700, every file 0600.
        foreach (var tree in new[] { "audit", "policies" }) RestrictTree(Path.Combine(dataDir, tree));
        // The sandbox's files and roots; agents' directories below workspace/ and trash/ are theirs and not walked.
        foreach (var dir in new[] { "sandbox", "workspace", "trash" }) PrivateFiles.Restrict(Path.Combine(dataDir, dir), 0);
        foreach (var file in new[] { "instance.json", "uids.json", "mounts.json", "relay" }) PrivateFiles.Restrict(Path.Combine(dataDir, "sandbox", file), 0);
    }

    /// <summary>Sets the process umask to 077, so whatever a library creates on the gateway's behalf is private too.</summary>
    public static void UsePrivateUmask()
    {
        if (!OperatingSystem.IsWindows()) umask(0x3F);
    }

    private static void RestrictTree(string root)
    {
        if (!PrivateFiles.Restrict(root, 0)) return;
        var stack = new Stack<string>([root]);
        while (stack.Count > 0)
        {
            var dir = stack.Pop();
            foreach (var entry in Directory.EnumerateFileSystemEntries(dir))
            {
                var info = new FileInfo(entry);
                if (info.LinkTarget is not null) continue; // never followed
                PrivateFiles.Restrict(entry, 0);
                if ((info.Attributes & FileAttributes.Directory) != 0) stack.Push(entry);
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "umask")]
    private static partial uint umask(uint mask);
}
