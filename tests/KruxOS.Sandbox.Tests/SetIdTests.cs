using System.Diagnostics;
using System.Globalization;
using KruxOS.Core.Agents;
using KruxOS.Sandbox.Native;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// Issue 14, item 13: nothing a sandboxed command does may leave a setuid or setgid file, or a setgid
/// directory, on the host — where it would run as the agent's uid or gid for any local user.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class SetIdTests(SandboxFixture f)
{
    private const string A = "setid";

    [Fact]
    public async Task Should_leave_no_setuid_or_setgid_bit_on_the_host_whatever_a_command_tries()
    {
        var ws = f.Workspace(A);
        Directory.CreateDirectory(Path.Combine(ws, "t"));
        NativeTest.ChownOne(Path.Combine(ws, "t"), f.Host.HostUidFor(AgentName.Parse(A)));
        // An archive with set-id entries, as an agent could download or build one.
        var staging = Directory.CreateTempSubdirectory("kruxos-suid-tar-").FullName;
        File.WriteAllText(Path.Combine(staging, "suid"), "#!/bin/sh\n");
        File.SetUnixFileMode(Path.Combine(staging, "suid"), (UnixFileMode)0x9ED);   // 04755
        Directory.CreateDirectory(Path.Combine(staging, "sgid-dir"));
        File.SetUnixFileMode(Path.Combine(staging, "sgid-dir"), (UnixFileMode)0x5FD); // 02775
        Run("tar", "-cf", Path.Combine(ws, "t", "suid.tar"), "-C", staging, ".");
        Directory.Delete(staging, true);
        NativeTest.ChownOne(Path.Combine(ws, "t", "suid.tar"), f.Host.HostUidFor(AgentName.Parse(A)));

        const string Script = """
            cd /workspace/t
            touch f1; chmod u+s f1; chmod 4755 f1; chmod g+s f1
            touch f2; chmod 2755 f2
            install -m 4755 /usr/bin/true f3
            mkdir -m 2775 d1
            mkdir d2; chmod g+s d2; chmod 2775 d2
            mkdir x1 x2; tar -xpf suid.tar -C x1; tar -xf suid.tar -C x2
            python3 -c 'import os; open("p1","w").close(); os.chmod("p1", 0o4755); os.close(os.open("p2", os.O_CREAT | os.O_WRONLY, 0o6755)); os.mkdir("p3"); os.chmod("p3", 0o2775)'
            perl -e 'use Fcntl; open(F, ">", "l1"); close F; chmod 04755, "l1"; sysopen(G, "l2", O_CREAT | O_WRONLY, 06755); close G'
            echo done
            """;
        var r = await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", Script } });
        Assert.Contains("done", r.GetProperty("stdout_summary").GetString());

        var setId = Directory.EnumerateFileSystemEntries(Path.Combine(ws, "t"), "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 })
            .Where(p => new FileInfo(p).LinkTarget is null && (File.GetUnixFileMode(p) & (UnixFileMode.SetUser | UnixFileMode.SetGroup)) != 0)
            .Select(p => $"{Path.GetRelativePath(ws, p)} {Convert.ToString((int)File.GetUnixFileMode(p), 8)}").ToList();
        Assert.True(setId.Count == 0, "set-id entries left on the host: " + string.Join(", ", setId));
        Assert.Contains("Operation not permitted", r.GetProperty("stderr_summary").GetString());
        // What was allowed still happened, without the bits.
        foreach (var created in new[] { "f1", "f2", "f3", "d1", "d2", "p1", "l1" }) Assert.True(Path.Exists(Path.Combine(ws, "t", created)), created);
    }

    [Fact]
    public async Task Should_refuse_openat2_to_commands_whose_mode_the_filter_cannot_read()
    {
        // openat2(AT_FDCWD, "o2", {O_CREAT|O_WRONLY, 06755, 0}, 24): ENOSYS (38), so tools fall back to openat.
        var nr = Seccomp.Resolve("openat2").ToString(CultureInfo.InvariantCulture);
        var script = $"my $how = pack(q(QQQ), 0x41, 06755, 0); my $path = q(/workspace/o2); $! = 0; my $r = syscall({nr}, -100, $path, $how, 24); print $r < 0 ? $! + 0 : 0";
        var r = await f.Ok(A, "process.run", new { command = "perl", args = new[] { "-e", script } });
        Assert.True("38" == r.GetProperty("stdout_summary").GetString()!.Trim(), r.ToString());
        Assert.False(File.Exists(Path.Combine(f.Workspace(A), "o2")));
    }

    private static void Run(string file, params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { RedirectStandardError = true })!;
        Assert.True(p.WaitForExit(30_000));
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
    }
}
