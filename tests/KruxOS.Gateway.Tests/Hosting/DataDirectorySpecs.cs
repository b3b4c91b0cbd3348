using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Core.Control;
using KruxOS.Sandbox;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Hosting;

/// <summary>
/// The data directory holds token hashes, approval arguments and file contents agents wrote: it is 0700 and every
/// store in it 0600/0700 (docs/security.md, "Data directory"). The attacker is another local user on the host.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DataDirectorySpecs
{
    private const UnixFileMode OwnerDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode OwnerFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public async Task Everything_the_gateway_creates_in_a_fresh_data_directory_is_private_and_a_local_user_reads_none_of_it()
    {
        Assert.SkipUnless(Environment.UserName == "root" && File.Exists("/usr/bin/setpriv"), "needs root (the sandbox, and setpriv to act as another user)");
        // arrange: a data directory below a parent every user may traverse (like /var/lib or /data), so nothing but the
        // gateway's own modes stands between a local user and the stores
        var parent = Directory.CreateTempSubdirectory("kruxos-modes-").FullName;
        File.SetUnixFileMode(parent, OwnerDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        var dataDir = Path.Combine(parent, "data");
        try
        {
            await using var gateway = await TestGateway.StartAsync(dataDir);
            // act: use every store: identities (journal), sandboxed calls (workspace, trash root, uids, audit),
            // a policy change, a mount, a user token
            var agent = "modes-" + Guid.NewGuid().ToString("N")[..6];
            var token = await gateway.CreateAgentAsync(agent);
            await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "modes" });
            var session = await NodeClients.RunAsync(token, "--transport", "http", "--url", gateway.McpHttp.ToString(),
                "--call", "filesystem__write", """{"path":"secret.txt","content":"the agent's private notes"}""",
                "--call", "process__run", """{"command":"true"}""");
            Assert.Null(session["error"]);
            Assert.Equal(0, (await ProcessRunner.Kruxos(gateway, "config", "set", "policy", "team-moderate")).ExitCode);
            var mountSource = Directory.CreateTempSubdirectory("kruxos-modes-mount-").FullName;
            try { Assert.Equal(0, (await ProcessRunner.Kruxos(gateway, "mount", "add", agent, "--source", mountSource, "--label", "m")).ExitCode); }
            finally { Directory.Delete(mountSource); }
            var agentUid = gateway.Services.GetRequiredService<SandboxHost>().HostUidFor(AgentName.Parse(agent));

            // assert: the directory is 0700, and every file and directory the gateway keeps there is private;
            // the agents' own trees are theirs (owned by their uid, 0700 at the top)
            Assert.Equal(OwnerDirectory, File.GetUnixFileMode(dataDir));
            var offenders = new List<string>();
            foreach (var (relative, mode, owner, isDirectory) in await Walk(dataDir))
            {
                var expected = Expected(relative, isDirectory);
                if (mode != expected.Mode || owner != expected.Owner(agentUid)) offenders.Add($"{relative}: {Convert.ToString((int)mode, 8)} uid {owner}");
            }
            Assert.True(offenders.Count == 0, string.Join("\n", offenders));
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(dataDir, "audit"), "audit-*.log"));
            // the journal is in WAL mode (header bytes 18-19 = 2); its -wal file, when one is open, was walked above
            var header = new byte[20];
            await using (var db = new FileStream(Path.Combine(dataDir, "kruxos.db"), FileMode.Open, FileAccess.Read, FileShare.ReadWrite))
                await db.ReadExactlyAsync(header, TestContext.Current.CancellationToken);
            Assert.Equal((2, 2), (header[18], header[19]));

            // act + assert: a local user (nobody) gets nothing: not the journal, not the audit log, not a listing
            foreach (var attempt in new[]
                     {
                         new[] { "/bin/cat", Path.Combine(dataDir, "kruxos.db") },
                         ["/bin/ls", Path.Combine(dataDir, "audit")],
                         ["/bin/sh", "-c", $"cat {dataDir}/audit/audit-*.log"],
                         ["/bin/ls", dataDir],
                     })
            {
                var r = await RunAs(65534, attempt);
                Assert.True(r.ExitCode != 0 && r.StdErr.Contains("Permission denied", StringComparison.Ordinal), $"{string.Join(' ', attempt)}: {r.ExitCode} {r.StdOut} {r.StdErr}");
            }
        }
        finally { if (Directory.Exists(parent)) Directory.Delete(parent, recursive: true); }
    }

    [Fact]
    public async Task An_install_left_world_readable_by_an_earlier_version_is_tightened_at_start()
    {
        // arrange: a data directory as earlier versions left it (0755 directories, 0644 files), with real stores in it
        var gateway = await TestGateway.StartAsync();
        await gateway.CreateAgentAsync("older");
        var dataDir = gateway.DataDir;
        var restartedGateway = default(TestGateway);
        try
        {
            await gateway.App.StopAsync(TestContext.Current.CancellationToken);
            await gateway.App.DisposeAsync();
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            foreach (var entry in Directory.EnumerateFileSystemEntries(dataDir, "*", SearchOption.AllDirectories).Append(dataDir)
                         .Where(e => !e.Contains("/workspace/", StringComparison.Ordinal) && !e.Contains("/run/", StringComparison.Ordinal) && new FileInfo(e).LinkTarget is null))
                File.SetUnixFileMode(entry, Directory.Exists(entry) ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4);
            Assert.Equal((UnixFileMode)0x1A4, File.GetUnixFileMode(Path.Combine(dataDir, "kruxos.db")));

            // act: the new version starts on it
            restartedGateway = await TestGateway.StartAsync(dataDir);

            // assert
            Assert.Equal(OwnerDirectory, File.GetUnixFileMode(dataDir));
            foreach (var file in new[] { "kruxos.db", "kruxos.db-wal", "kruxos.db-shm" })
                if (File.Exists(Path.Combine(dataDir, file))) Assert.Equal(OwnerFile, File.GetUnixFileMode(Path.Combine(dataDir, file)));
            foreach (var dir in new[] { "audit", "policies", "sandbox", "workspace", "trash" })
                Assert.Equal(OwnerDirectory, File.GetUnixFileMode(Path.Combine(dataDir, dir)));
            foreach (var file in Directory.GetFiles(Path.Combine(dataDir, "audit")).Concat(Directory.GetFiles(Path.Combine(dataDir, "sandbox"))))
                Assert.True(File.GetUnixFileMode(file) == OwnerFile, $"{file}: {File.GetUnixFileMode(file)}");
        }
        finally
        {
            if (restartedGateway is not null) await restartedGateway.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_data_directory_may_be_passed_through_but_never_listed_while_an_auth_socket_in_it_admits_other_uids()
    {
        await using var gateway = await TestGateway.StartAsync(null, "--Gateway:AuthSocketUids:0", "4242");
        Assert.Equal(OwnerDirectory | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute, File.GetUnixFileMode(gateway.DataDir));
        Assert.Equal(OwnerFile, File.GetUnixFileMode(Path.Combine(gateway.DataDir, "kruxos.db")));
        Assert.Equal(OwnerDirectory, File.GetUnixFileMode(Path.Combine(gateway.DataDir, "audit")));
    }

    private sealed record Rule(UnixFileMode Mode, Func<uint, uint> Owner);

    // What each path may be. Everything is the gateway's (uid 0) and owner-only, with these exceptions, each for a reason:
    // the agent's workspace and trash roots belong to its uid; its git relay directory can be passed through (0711) so the
    // agent's uid reaches its own socket in it, which is the agent's and 0600.
    private static Rule Expected(string relative, bool isDirectory)
    {
        var parts = relative.Split('/');
        if (parts.Length == 2 && parts[0] is "workspace" or "trash") return new(OwnerDirectory, agent => agent);
        if (parts is ["sandbox", "relay", _]) return new(OwnerDirectory | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute, _ => 0);
        if (parts is ["sandbox", "relay", _, "git.sock"]) return new(OwnerFile, agent => agent);
        return new(isDirectory ? OwnerDirectory : OwnerFile, _ => 0);
    }

    // Every entry (find(1) does not follow symlinks), without run/ (the sockets' own specs cover it) and without what is
    // inside agents' own trees (their content is theirs).
    private static async Task<List<(string Relative, UnixFileMode Mode, uint Owner, bool IsDirectory)>> Walk(string root)
    {
        var r = await ProcessRunner.RunAsync("/usr/bin/find", [root, "-mindepth", "1",
            "(", "-path", root + "/run", "-o", "-path", root + "/workspace/*/*", "-o", "-path", root + "/trash/*/*", ")", "-prune", "-o",
            "-printf", "%U %m %y %P\\n"]);
        Assert.Equal(0, r.ExitCode);
        return [.. r.StdOut.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => line.Split(' ', 4)).Select(p =>
            (p[3], (UnixFileMode)Convert.ToInt32(p[1], 8), uint.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), p[2] == "d"))];
    }

    private static Task<ProcessResult> RunAs(uint uid, string[] command) =>
        ProcessRunner.RunAsync("/usr/bin/setpriv", [$"--reuid={uid}", $"--regid={uid}", "--clear-groups", "--", .. command], workingDirectory: "/");
}
