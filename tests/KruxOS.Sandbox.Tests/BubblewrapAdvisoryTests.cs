using System.Diagnostics;
using KruxOS.Core.Agents;
using KruxOS.Sandbox.Health;
using KruxOS.Sandbox.Isolation;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// CVE-2026-87766 (GHSA-pxhw-h44j-8pfx): bubblewrap before 0.12.0 resolves paths it creates during setup
/// outside the new root, so a symlink in content bound earlier leads a later creation onto the host via
/// /oldroot. Our launches never create anything below a directory whose content the agent controls; the
/// diagnostics check that on the real argument vectors, and these specs attack it.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class BubblewrapAdvisoryTests(SandboxFixture f)
{
    private static readonly AdvisoryContext Ours = SandboxDiagnostics.AdvisoryContextFor(new Launcher(new SandboxOptions()), new SandboxOptions());

    [Fact]
    public void Our_launch_layouts_are_not_exposed_and_a_creation_below_agent_content_is_found()
    {
        var (exposed, reason) = BubblewrapAdvisories.CreationBelowControlledContent(Ours);
        Assert.False(exposed, reason);
        Assert.Equal(2, Ours.Launches.Count);
        Assert.Contains("/workspace", Ours.AgentControlled);

        // the checker is not blind: a later --dir, a mount target or a file below an agent-controlled bind is exposure
        foreach (var extra in new[] { new[] { "--dir", "/workspace/x/y" }, ["--ro-bind", "/srv", "/mnt/rw/inner"], ["--symlink", "a", "/trash/b"], ["--tmpfs", "/run/kruxos/t"] })
        {
            var args = Ours.Launches[1].ToList();
            args.InsertRange(args.IndexOf("--chdir"), extra);
            var (bad, why) = BubblewrapAdvisories.CreationBelowControlledContent(Ours with { Launches = [args] });
            Assert.True(bad, string.Join(' ', extra));
            Assert.Contains(extra[^1], why, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_installed_version_is_reported_against_the_table()
    {
        Assert.Equal(new Version(0, 8, 0), BubblewrapAdvisories.ParseVersion("bubblewrap 0.8.0"));
        Assert.Null(BubblewrapAdvisories.ParseVersion("bwrap"));
        var at080 = BubblewrapAdvisories.Check(new Version(0, 8, 0), Ours).ToDictionary(a => a.Id);
        Assert.Equal(AdvisoryVerdict.NotExposed, at080["CVE-2026-87766"].Verdict);
        Assert.Equal("< 0.12.0", at080["CVE-2026-87766"].AffectedRange);
        Assert.Equal(AdvisoryVerdict.NotAffected, at080["CVE-2026-41163"].Verdict);
        Assert.Equal(AdvisoryVerdict.NotAffected, BubblewrapAdvisories.Check(new Version(0, 12, 0), Ours).Single(a => a.Id == "CVE-2026-87766").Verdict);
        // a setuid 0.11.1 install is exposed to CVE-2026-41163; an advisory we never analysed says so instead of "safe"
        Assert.Equal(AdvisoryVerdict.Exposed, BubblewrapAdvisories.Check(new Version(0, 11, 1), Ours with { BwrapSetuid = true }).Single(a => a.Id == "CVE-2026-41163").Verdict);
        Assert.Equal(AdvisoryVerdict.NotAnalysed, BubblewrapAdvisories.Check(new Version(0, 3, 2), Ours).Single(a => a.Id == "CVE-2019-12439").Verdict);
        // the health check carries the finding for this machine's bubblewrap
        Assert.Contains(f.Host.StartupDiagnostics!.AdvisorySummary, f.Host.Health.Message, StringComparison.Ordinal);
        Assert.Contains("bubblewrap", f.Host.StartupDiagnostics.AdvisorySummary, StringComparison.Ordinal);
        // an exposed finding fails the whole report (and with it the sandbox's start-up probe)
        var exposed = new DiagnosticsReport([new MechanismStatus("x", true, "")], [new AdvisoryFinding("CVE-X", null, "0.1", "< 1", "1", AdvisoryVerdict.Exposed, "because")]);
        Assert.False(exposed.AllActive);
        Assert.Contains("EXPOSED", exposed.ToText(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Symlinks_an_agent_plants_where_our_launches_bind_never_lead_a_setup_write_onto_the_host()
    {
        // arrange: a canary directory on the host that the agent's uid could write to, if anything led there
        const string A = "advisory";
        var agent = AgentName.Parse(A);
        await f.Ok(A, "filesystem.list", new { path = "." });
        var canary = Path.Combine(Path.GetTempPath(), "kruxos-canary-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(canary);
        NativeTest.Chown(canary, f.Host.HostUidFor(agent));
        var mountSource = Path.Combine(Path.GetTempPath(), "kruxos-adv-mount-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(mountSource);
        NativeTest.Chown(mountSource, f.Host.HostUidFor(agent));
        try
        {
            // the agent plants, everywhere it can write that a launch binds (workspace, a rw mount), symlinks named like
            // the paths a setup step could create, pointing at the host through bubblewrap's /oldroot
            var plant = string.Join("; ", new[] { "/workspace", "/mnt/adv" }.SelectMany(root => new[] { "mnt", "run", "tmp", "etc", "opt", "trash", "workspace", "kruxos" }
                .Select(name => $"mv {root}/{name} {root}/.{name}-moved 2>/dev/null; ln -sfn /oldroot{canary} {root}/{name}")));
            f.Host.Mounts.Add(A, mountSource, "adv", readOnly: false);
            await f.Host.StopAgentAsync(agent, TestContext.Current.CancellationToken); // picks up the mount
            var planted = await f.Ok(A, "process.run", new { command = "sh", args = new[] { "-c", plant + "; ls /workspace | wc -l" } });
            Assert.Equal("completed", planted.GetProperty("state").GetString());

            // act + assert: every kind of launch again, and after each nothing was created on the host through the planted
            // links: process sandboxes, a fresh worker (with trash, relay and runtime binds), git in it
            await f.Ok(A, "process.run", new { command = "true" });
            Assert.Empty(Directory.EnumerateFileSystemEntries(canary));
            await f.Host.StopAgentAsync(agent, TestContext.Current.CancellationToken);
            await f.Ok(A, "filesystem.write", new { path = "after.txt", content = "x" });
            await f.Ok(A, "git.init", new { path = "repo" });
            await f.Ok(A, "git.status", new { path = "repo" });

            Assert.Empty(Directory.EnumerateFileSystemEntries(canary));
        }
        finally
        {
            f.Host.Mounts.Remove(A, "adv");
            await f.Host.StopAgentAsync(agent, TestContext.Current.CancellationToken);
            Directory.Delete(canary, true);
            Directory.Delete(mountSource, true);
        }
    }

    [Fact]
    public void The_installed_bubblewrap_really_has_the_flaw_our_layout_avoids()
    {
        // Documents the advisory on this machine's binary: a creating step below bound content with a planted
        // /oldroot symlink writes on the host before 0.12.0, and not from 0.12.0 on.
        var version = BubblewrapAdvisories.ParseVersion(Version());
        Assert.NotNull(version);
        var root = Path.Combine(Path.GetTempPath(), "kruxos-flaw-" + Guid.NewGuid().ToString("N")[..8]);
        var content = Path.Combine(root, "content");
        var canary = Path.Combine(root, "canary");
        Directory.CreateDirectory(content);
        Directory.CreateDirectory(canary);
        try
        {
            File.CreateSymbolicLink(Path.Combine(content, "sub"), "/oldroot" + canary);
            using var p = Process.Start(new ProcessStartInfo("/usr/bin/bwrap",
                ["--unshare-user", "--ro-bind", "/usr", "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                 "--bind", content, "/content", "--dir", "/content/sub/escaped", "--", "/bin/true"]) { RedirectStandardError = true, UseShellExecute = false })!;
            Assert.True(p.WaitForExit(30_000));
            Assert.Equal(version < new Version(0, 12, 0), Directory.Exists(Path.Combine(canary, "escaped")));
        }
        finally { Directory.Delete(root, true); }
    }

    private static string Version()
    {
        using var p = Process.Start(new ProcessStartInfo("/usr/bin/bwrap", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
        var v = p.StandardOutput.ReadToEnd();
        p.WaitForExit(5000);
        return v;
    }
}
