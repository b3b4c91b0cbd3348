using System.Globalization;
using KruxOS.Sandbox.Health;
using KruxOS.Sandbox.Native;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// The seccomp allowlist (ADR 0012), measured from inside a real sandbox: perl's <c>syscall</c> makes a raw
/// call and prints the errno (0 when the call succeeded). Each probe is a call that succeeds for an
/// unprivileged process without a filter, so an EPERM can only come from the filter.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class SeccompTests(SandboxFixture f)
{
    private const string A = "seccomp";

    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_PROCESS_KEYRING, create=1) and io_setup(1, &ctx) both succeed unfiltered.
    private const string KeyctlArgs = "0, -2, 1";
    private const string IoSetupArgs = "1, $ctx";

    private async Task<string> Errno(string syscall, string args, string prelude = "")
    {
        var nr = Seccomp.Resolve(syscall);
        Assert.True(nr >= 0, $"{syscall} is not a syscall on this architecture");
        var script = $"{prelude}my $ctx = pack(q(Q), 0); $! = 0; my $r = syscall({nr.ToString(CultureInfo.InvariantCulture)}, {args}); print $r < 0 ? $! + 0 : 0";
        var r = await f.Ok(A, "process.run", new { command = "perl", args = new[] { "-e", script } });
        Assert.Equal(0, r.GetProperty("exit_code").GetInt32());
        return r.GetProperty("stdout_summary").GetString()!.Trim();
    }

    [Fact]
    public async Task Should_refuse_a_syscall_on_the_spec_block_list_with_EPERM()
    {
        Assert.Contains("keyctl", SeccompProfile.Blocked);
        Assert.Equal("1", await Errno("keyctl", KeyctlArgs));
    }

    [Fact]
    public async Task Should_refuse_a_syscall_that_is_not_on_the_allowlist_even_when_not_explicitly_blocked()
    {
        Assert.DoesNotContain("io_setup", SeccompProfile.Blocked);
        Assert.DoesNotContain("io_setup", SeccompProfile.Allowed);
        Assert.Equal("1", await Errno("io_setup", IoSetupArgs));
    }

    [Fact]
    public async Task Should_still_allow_the_calls_on_the_allowlist()
    {
        // getppid succeeds (prints 0); a child process (clone without namespace flags) and a pipeline work.
        Assert.Equal("0", await Errno("getppid", "0"));
        var r = await f.Ok(A, "process.run", new { command = "bash", args = new[] { "-c", "seq 1 5 | sort -r | head -n 2 | tr '\\n' ,; git --version >/dev/null && echo git-ok" } });
        Assert.Equal("5,4,git-ok", r.GetProperty("stdout_summary").GetString()!.Trim());
    }

    [Fact]
    public async Task Should_refuse_TIOCSTI_whatever_the_high_bits_but_allow_other_ioctls()
    {
        // On /dev/null (not a terminal) an allowed ioctl fails with ENOTTY (25); a filtered one with EPERM (1).
        const string Open = "open(my $fh, q(<), q(/dev/null)) or die; my $fd = fileno($fh); my $b = q(x) x 64; ";
        Assert.Equal("25", await Errno("ioctl", "$fd, 0x5413, $b", Open));           // TIOCGWINSZ
        Assert.Equal("1", await Errno("ioctl", "$fd, 0x5412, $b", Open));            // TIOCSTI
        Assert.Equal("1", await Errno("ioctl", "$fd, 0x100005412, $b", Open));       // TIOCSTI with junk in the high bits
    }

    [Fact]
    public void Should_keep_the_allow_and_block_lists_disjoint()
    {
        var overlap = SeccompProfile.Allowed.Intersect(SeccompProfile.Blocked).ToList();
        Assert.Empty(overlap);
        Assert.Equal(SeccompProfile.Allowed.Count(), SeccompProfile.Allowed.Distinct().Count());
        // The spec's 23 explicit syscalls (§9.4; umount2 counted with mount) are all on the block list.
        foreach (var s in new[] { "mount", "umount2", "pivot_root", "ptrace", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
                     "reboot", "sethostname", "setdomainname", "swapon", "swapoff", "syslog", "settimeofday", "perf_event_open", "bpf", "userfaultfd",
                     "keyctl", "request_key", "add_key", "unshare", "setns" })
            Assert.Contains(s, SeccompProfile.Blocked);
    }

    [Fact]
    public void Should_report_the_allowlist_mode_in_diagnostics()
    {
        var report = SandboxDiagnostics.Run(f.Options);
        var seccomp = report.Mechanisms.Single(m => m.Name == "seccomp");
        Assert.True(seccomp.Active, seccomp.Detail);
        Assert.StartsWith("mode allowlist", seccomp.Detail);
        Assert.Contains("io_setup(2) outside the allowlist refused (EPERM)", seccomp.Detail);
    }
}
