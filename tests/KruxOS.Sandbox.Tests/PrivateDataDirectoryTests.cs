using KruxOS.Core.Agents;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// The sandbox works from a data directory only its owner can enter (ADR 0018) and never loosens it: the
/// collection's fixture runs every spec of this project from a 0700 data directory under a 0700 parent.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class PrivateDataDirectoryTests(SandboxFixture f)
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    [Fact]
    public async Task Should_run_processes_the_worker_and_git_from_a_private_data_directory_without_loosening_it()
    {
        // arrange: the fixture's layout is the one that broke: /tmp/<0700>/data (0700)
        Assert.Equal(Private, File.GetUnixFileMode(f.PrivateParent));

        // act: every kind of launch (a process.run sandbox, the warm worker, git in the worker)
        var run = await f.Ok("private-dir", "process.run", new { command = "sh", args = new[] { "-c", "echo hi > made-by-process && id -u" } });
        await f.Ok("private-dir", "filesystem.write", new { path = "made-by-worker.txt", content = "w" });
        var read = await f.Ok("private-dir", "filesystem.read", new { path = "made-by-process" });
        await f.Ok("private-dir", "git.init", new { path = "repo" });

        // assert: all ran confined as the agent, and nothing on the way was opened up
        Assert.Equal("1000", run.GetProperty("stdout_summary").GetString());
        Assert.Equal("hi\n", read.GetProperty("content").GetString());
        Assert.Equal(Private, File.GetUnixFileMode(f.PrivateParent));
        foreach (var dir in new[] { f.DataDirectory, Path.Combine(f.DataDirectory, "workspace"), Path.Combine(f.DataDirectory, "trash"), Path.Combine(f.DataDirectory, "sandbox") })
            Assert.True(File.GetUnixFileMode(dir) == Private, $"{dir} is {File.GetUnixFileMode(dir)}");
        // the staging mount points the launches bound onto are empty on the host: the binds lived in each launch's own namespace
        var staging = f.Options.StagingDirectory;
        foreach (var mountPoint in Directory.EnumerateDirectories(staging).Where(d => Path.GetFileName(d) != "etc"))
            Assert.Empty(Directory.EnumerateFileSystemEntries(mountPoint));
    }

    [Fact]
    public async Task A_local_user_cannot_enter_the_data_directory_or_read_what_the_sandbox_keeps_there()
    {
        // arrange: a data directory whose parent everyone may traverse (like /var/lib), so only its own mode protects it;
        // the host creates it and lets an agent use it
        await using var own = new OwnHost((UnixFileMode)0x1ED, f.CgroupName + "-priv");
        await HostHelpers.Ok(own.Host, "victim", "filesystem.write", new { path = "secret.txt", content = "agent data" });
        await HostHelpers.Ok(own.Host, "victim", "process.run", new { command = "true" });
        var data = own.DataDirectory;

        // act: a local user (nobody, 65534) looks around
        var list = HostHelpers.RunAs(65534, "/bin/ls", data);
        var uids = HostHelpers.RunAs(65534, "/bin/cat", Path.Combine(data, "sandbox", "uids.json"));
        var listWorkspaces = HostHelpers.RunAs(65534, "/bin/ls", Path.Combine(data, "workspace"));

        // assert: the directory is 0700 and turns them all away
        Assert.Equal(Private, File.GetUnixFileMode(data));
        Assert.NotEqual(0, list.ExitCode);
        Assert.Contains("Permission denied", list.StdErr, StringComparison.Ordinal);
        Assert.NotEqual(0, uids.ExitCode);
        Assert.Contains("Permission denied", uids.StdErr, StringComparison.Ordinal);
        Assert.NotEqual(0, listWorkspaces.ExitCode);
        // and the sandbox's own files are 0600 besides
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "sandbox", "uids.json")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(data, "sandbox", "instance.json")));
    }

    [Fact]
    public async Task Should_fail_the_launch_rather_than_follow_a_symlink_planted_in_a_mount_source()
    {
        // arrange: an operator mount whose parent a local user owns (mounts may not overlap the data directory,
        // so the agent cannot reach a source's parent; a local user who owns one can), then that user replaces
        // the mounted directory with a symlink to a host directory no sandbox may see
        await using var own = new OwnHost((UnixFileMode)0x1ED, f.CgroupName + "-link");
        const uint LocalUser = 65534;
        var userDir = Path.Combine(own.Parent, "user-owned");
        Directory.CreateDirectory(Path.Combine(userDir, "shared"));
        NativeTest.Chown(userDir, LocalUser);
        NativeTest.Chown(Path.Combine(userDir, "shared"), LocalUser);
        own.Host.Mounts.Add("linker", Path.Combine(userDir, "shared"), "shared", readOnly: true);
        var hostSecret = Path.Combine(own.Parent, "host-only");
        Directory.CreateDirectory(hostSecret);
        File.WriteAllText(Path.Combine(hostSecret, "root.txt"), "root's");
        var (code, output) = WorkerConfinementTests.RunAs(LocalUser, "sh", "-c", $"rmdir {userDir}/shared && ln -s {hostSecret} {userDir}/shared && echo swapped");
        Assert.True(code == 0, output);

        // act: the next launch binds the mount as root
        var r = await HostHelpers.Call(own.Host, "linker", "process.run", new { command = "cat", args = new[] { "/mnt/shared/root.txt" } });

        // assert: the mount no longer resolving to itself is left out (a swap after that check fails the launch's
        // own no-follow lookup, see HostPathsTests); nothing of the host directory reached the sandbox
        Assert.True(r.IsSuccess, r.Error?.Message);
        Assert.NotEqual(0, r.Data!.Value.GetProperty("exit_code").GetInt32());
        Assert.DoesNotContain("root's", r.Data.Value.GetRawText(), StringComparison.Ordinal);
    }
}
