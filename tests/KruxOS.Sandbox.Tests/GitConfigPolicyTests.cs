using System.Diagnostics;
using KruxOS.SandboxWorker.Ops;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// The repository-configuration check (ADR 0016) as a pure function: the allowlist lets what git itself
/// writes through and names every other key; the parser refuses what it cannot read exactly as git does,
/// and where it does accept a file, it sees the same keys as git (checked against the real git).
/// </summary>
public sealed class GitConfigPolicyTests
{
    private static IReadOnlyList<string> Refused(string text)
    {
        Assert.True(GitConfigPolicy.TryParse(text, out var entries, out var error), error);
        return GitConfigPolicy.Disallowed(entries);
    }

    [Fact]
    public void Should_accept_what_git_init_clone_and_branch_tracking_write()
    {
        const string Config = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n\tlogallrefupdates = true\n" +
            "[remote \"origin\"]\n\turl = file:///mnt/remotes/origin.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n" +
            "[branch \"main\"]\n\tremote = origin\n\tmerge = refs/heads/main\n[user]\n\tname = Ada ; a comment\n\temail = \"ada@example.org\"\n";
        Assert.Empty(Refused(Config));
        Assert.Empty(Refused("\uFEFF[core]\r\n\tbare = true\r\n"));
    }

    [Theory]
    [InlineData("[core]\n\tfsmonitor = \"touch /workspace/x; false\"\n", "core.fsmonitor")]
    [InlineData("[core]\n\thooksPath = /workspace/hooks\n", "core.hookspath")]
    [InlineData("[core]\n\tsshCommand = sh\n\tpager = sh\n\teditor = sh\n\tworktree = /trash\n", "core.sshcommand,core.pager,core.editor,core.worktree")]
    [InlineData("[filter \"x\"]\n\tclean = sh\n\tsmudge = sh\n\tprocess = sh\n", "filter.x.clean,filter.x.smudge,filter.x.process")]
    [InlineData("[diff]\n\texternal = sh\n[diff \"x\"]\n\ttextconv = sh\n\tcommand = sh\n", "diff.external,diff.x.textconv,diff.x.command")]
    [InlineData("[merge \"x\"]\n\tdriver = sh\n[gpg]\n\tprogram = sh\n[commit]\n\tgpgSign = true\n", "merge.x.driver,gpg.program,commit.gpgsign")]
    [InlineData("[credential]\n\thelper = !sh\n[uploadpack]\n\tpackObjectsHook = sh\n", "credential.helper,uploadpack.packobjectshook")]
    [InlineData("[include]\n\tpath = /workspace/more\n[includeIf \"gitdir:/workspace/\"]\n\tpath = more\n", "include.path,includeif.gitdir:/workspace/.path")]
    [InlineData("[remote \"origin\"]\n\turl = x\n\tuploadpack = sh\n\treceivepack = sh\n\tvcs = x\n", "remote.origin.uploadpack,remote.origin.receivepack,remote.origin.vcs")]
    [InlineData("[url \"ext::sh -c x\"]\n\tinsteadOf = file://\n[submodule \"s\"]\n\tupdate = !sh\n[alias]\n\tst = !sh\n", "url.ext::sh -c x.insteadof,submodule.s.update,alias.st")]
    [InlineData("[core]\n\tsharedRepository = group\n[extensions]\n\tworktreeConfig = true\n", "core.sharedrepository,extensions.worktreeconfig")]
    public void Should_name_every_key_outside_the_allowlist(string text, string keys)
    {
        Assert.Equal(keys.Split(','), Refused(text));
    }

    [Theory]
    [InlineData("[core] fsmonitor = x\n", "text after a section header")]
    [InlineData("[core.sub]\n\tbare = true\n", "invalid section header")]
    [InlineData("[core]\n\tbare = true \\\n\tfsmonitor = x\n", "continuation")]
    [InlineData("[core]\n\tbare = \"unterminated\n", "unterminated")]
    [InlineData("[core]\n\tbare = a\\qb\n", "unknown escape")]
    [InlineData("bare = true\n", "outside any section")]
    [InlineData("[core]\n\t-bare = true\n", "unexpected character")]
    [InlineData("[remote \"a\\x\"]\n\turl = y\n", "escape")]
    [InlineData("[core]\n\tbare = tr\0ue\n", "control character")]
    [InlineData("[ \"x\"]\n\tbare = 1\n", "section name")]
    public void Should_refuse_a_file_it_cannot_read_exactly_as_git_does(string text, string reason)
    {
        Assert.False(GitConfigPolicy.TryParse(text, out _, out var error));
        Assert.Contains(reason, error);
    }

    /// <summary>Files that both parsers accept must yield the same keys (differential check against the system git).</summary>
    [Theory]
    [InlineData("[core]\n\tbare = \"a;b#c\" ; comment\n\tfilemode\n[Remote \"Origin\"]\n\tURL = x\n")]
    [InlineData("# c\n; c\n[core]\n\tbare = \"x\\\"\\\\\" # \"\n\tignorecase = a\\tb\n[branch \"we ird\\\"name\"]\n\tmerge = refs/heads/x\n")]
    [InlineData("[core]\n\tbare=1\n\tlogallrefupdates = \"\"\n[user]\n\tname = \" spaced  out \"\n")]
    public void Should_see_the_same_keys_as_git(string text)
    {
        Assert.True(GitConfigPolicy.TryParse(text, out var entries, out var error), error);
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, text);
            var psi = new ProcessStartInfo("git", ["config", "--file", file, "--list", "--name-only"]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var git = Process.Start(psi)!;
            var output = git.StandardOutput.ReadToEnd();
            Assert.True(git.WaitForExit(10_000));
            Assert.Equal(0, git.ExitCode);
            var gits = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal(gits, entries.Select(e => e.Name));
        }
        finally { File.Delete(file); }
    }
}
