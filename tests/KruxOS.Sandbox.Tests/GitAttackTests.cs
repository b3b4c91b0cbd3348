using KruxOS.Core.Agents;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// Issue 14, item 1, first half: an agent writes repository configuration (or hooks) that names a program,
/// then asks for an ordinary git call. Each payload would create a marker file in the workspace; none may
/// run. The configuration check refuses the call and names the keys; hooks are off everywhere.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class GitAttackTests(SandboxFixture f)
{
    private const string Marker = "PWNED";

    private async Task<string> Repo(string agent, string path = "repo")
    {
        await f.Ok(agent, "git.init", new { path });
        await f.Ok(agent, "filesystem.write", new { path = path + "/a.txt", content = "one\n" });
        return path;
    }

    private bool Pwned(string agent) => File.Exists(Path.Combine(f.Workspace(agent), Marker));

    private async Task Append(string agent, string file, string text) =>
        await f.Ok(agent, "filesystem.append", new { path = file, content = text });

    private static void AssertRefused(SandboxResult r, params string[] keys)
    {
        Assert.False(r.IsSuccess, "the call ran");
        Assert.Equal("UnsafeRepositoryConfig", r.Error!.ErrorType);
        foreach (var k in keys) Assert.Contains(k, r.Error.Message);
    }

    [Fact]
    public async Task Should_not_run_core_fsmonitor_on_git_status()
    {
        const string A = "atk-fsmonitor";
        var repo = await Repo(A);
        await Append(A, repo + "/.git/config", $"[core]\n\tfsmonitor = \"touch /workspace/{Marker}; false\"\n");
        var status = await f.Call(A, "git.status", new { path = repo });
        var diff = await f.Call(A, "git.diff", new { path = repo });
        Assert.False(Pwned(A), "core.fsmonitor ran");
        AssertRefused(status, "core.fsmonitor");
        AssertRefused(diff, "core.fsmonitor");
    }

    [Fact]
    public async Task Should_not_run_a_clean_filter_on_git_commit_nor_a_textconv_on_git_diff()
    {
        const string A = "atk-filter";
        var repo = await Repo(A);
        await f.Ok(A, "filesystem.write", new { path = repo + "/.gitattributes", content = "*.txt filter=x diff=x\n" });
        await Append(A, repo + "/.git/config", $"[filter \"x\"]\n\tclean = \"touch /workspace/{Marker}; cat\"\n[diff \"x\"]\n\ttextconv = \"touch /workspace/{Marker}; cat\"\n");
        var commit = await f.Call(A, "git.commit", new { path = repo, message = "x" });
        Assert.False(Pwned(A), "the clean filter ran");
        await f.Ok(A, "filesystem.write", new { path = repo + "/a.txt", content = "two\n" });
        var diff = await f.Call(A, "git.diff", new { path = repo });
        Assert.False(Pwned(A), "the textconv driver ran");
        AssertRefused(commit, "filter.x.clean", "diff.x.textconv");
        AssertRefused(diff, "diff.x.textconv");
    }

    [Fact]
    public async Task Should_not_run_gpg_program_on_git_commit()
    {
        const string A = "atk-gpg";
        var repo = await Repo(A);
        // git runs gpg.program without a shell: it has to be an executable file, which process.run can make.
        await f.Ok(A, "filesystem.write", new { path = "gpg.sh", content = $"#!/bin/sh\ntouch /workspace/{Marker}\nexit 1\n" });
        await f.Ok(A, "process.run", new { command = "chmod", args = new[] { "+x", "gpg.sh" } });
        await Append(A, repo + "/.git/config", "[commit]\n\tgpgsign = true\n[gpg]\n\tprogram = /workspace/gpg.sh\n");
        var commit = await f.Call(A, "git.commit", new { path = repo, message = "signed" });
        Assert.False(Pwned(A), "gpg.program ran");
        AssertRefused(commit, "commit.gpgsign", "gpg.program");
    }

    [Fact]
    public async Task Should_not_follow_includes_to_a_payload()
    {
        const string A = "atk-include";
        var repo = await Repo(A);
        await f.Ok(A, "filesystem.write", new { path = "inc.cfg", content = $"[core]\n\tfsmonitor = \"touch /workspace/{Marker}; false\"\n" });
        await Append(A, repo + "/.git/config", "[include]\n\tpath = /workspace/inc.cfg\n[includeIf \"gitdir:/workspace/\"]\n\tpath = /workspace/inc.cfg\n");
        var status = await f.Call(A, "git.status", new { path = repo });
        Assert.False(Pwned(A), "an included fsmonitor ran");
        AssertRefused(status, "include.path", "includeif.gitdir:/workspace/.path");
    }

    [Fact]
    public async Task Should_not_run_the_repositorys_hooks()
    {
        const string A = "atk-hooks";
        var repo = await Repo(A);
        var hook = $"#!/bin/sh\ntouch /workspace/{Marker}\n";
        foreach (var name in new[] { "post-commit", "reference-transaction", "post-index-change", "post-checkout" })
            await f.Ok(A, "filesystem.write", new { path = $"{repo}/.git/hooks/{name}", content = hook, create_parents = true });
        // An agent with process.run can make them executable; git.commit alone would then run them.
        await f.Ok(A, "process.run", new { command = "chmod", args = new[] { "-R", "+x", $"{repo}/.git/hooks" } });
        await f.Ok(A, "git.commit", new { path = repo, message = "first" });
        await f.Ok(A, "git.branch", new { path = repo, action = "create", name = "topic" });
        await f.Ok(A, "git.branch", new { path = repo, action = "switch", name = "topic" });
        await f.Ok(A, "git.status", new { path = repo });
        Assert.False(Pwned(A), "a hook in .git/hooks ran");
        // Pointing core.hooksPath elsewhere is a refused key, not a way round.
        await Append(A, repo + "/.git/config", $"[core]\n\thooksPath = /workspace/{repo}/.git/hooks\n");
        await f.Ok(A, "filesystem.write", new { path = repo + "/b.txt", content = "two\n" });
        var commit = await f.Call(A, "git.commit", new { path = repo, message = "second" });
        Assert.False(Pwned(A), "a hook via core.hooksPath ran");
        AssertRefused(commit, "core.hookspath");
    }

    [Fact]
    public async Task Should_not_run_hooks_of_a_local_remote_and_push_only_where_the_policy_allows()
    {
        const string A = "atk-remote";
        var remotes = Directory.CreateTempSubdirectory("kruxos-atk-remote-").FullName;
        f.GitRemotes[A] = new([["file:///mnt/atk"]]);
        try
        {
            Git(remotes, "init", "--bare", "-q", "-b", "main", "origin.git");
            File.WriteAllText(Path.Combine(remotes, "origin.git", "hooks", "pre-receive"), $"#!/bin/sh\ntouch /workspace/{Marker}\n");
            File.WriteAllText(Path.Combine(remotes, "origin.git", "hooks", "post-update"), $"#!/bin/sh\ntouch /workspace/{Marker}\n");
            foreach (var h in Directory.GetFiles(Path.Combine(remotes, "origin.git", "hooks"))) File.SetUnixFileMode(h, (UnixFileMode)0x1ED);
            NativeTest.Chown(remotes, f.Host.HostUidFor(AgentName.Parse(A)));
            f.Host.Mounts.Add(A, remotes, "atk", readOnly: false);
            await f.Host.StopAgentAsync(AgentName.Parse(A), TestContext.Current.CancellationToken);

            await f.Ok(A, "git.clone", new { url = "file:///mnt/atk/origin.git", path = "one" });
            await f.Ok(A, "filesystem.write", new { path = "one/readme.md", content = "v1\n" });
            await f.Ok(A, "git.commit", new { path = "one", message = "v1" });
            await f.Ok(A, "git.push", new { path = "one" });
            Assert.False(Pwned(A), "a receive hook of the local remote ran");
            Assert.Equal("main", Git(remotes, "--git-dir=origin.git", "rev-parse", "--abbrev-ref", "HEAD").Trim());

            // A push URL is where git really pushes: it is checked like the fetch URL.
            await f.Ok(A, "git.init", new { path = "elsewhere.git", bare = true });
            await Append(A, "one/.git/config", "[remote \"origin\"]\n\tpushurl = file:///workspace/elsewhere.git\n");
            await f.Ok(A, "filesystem.write", new { path = "one/readme.md", content = "v2\n" });
            await f.Ok(A, "git.commit", new { path = "one", message = "v2" });
            var push = await f.Fails(A, "git.push", new { path = "one" }, "RemoteNotAllowed");
            Assert.Contains("elsewhere.git", push.Error!.Message);
            Assert.False(Directory.EnumerateFiles(Path.Combine(f.Workspace(A), "elsewhere.git", "refs", "heads")).Any(), "pushed to a remote the policy does not allow");
        }
        finally
        {
            f.Host.Mounts.Remove(A, "atk");
            f.GitRemotes.TryRemove(A, out _);
            await f.Host.StopAgentAsync(AgentName.Parse(A), TestContext.Current.CancellationToken);
            Directory.Delete(remotes, true);
        }
    }

    /// <summary>
    /// The kernel layer: even when the configuration changes between the check and git reading it (here a
    /// host thread swaps it as fast as it can), git may execute nothing but git, so the payload never runs.
    /// </summary>
    [Fact]
    public async Task Should_not_run_a_payload_swapped_into_the_config_after_the_check()
    {
        const string A = "atk-race";
        var repo = await Repo(A);
        var ws = f.Workspace(A);
        var config = Path.Combine(ws, repo, ".git", "config");
        var benign = File.ReadAllText(config);
        var evil = benign + $"[core]\n\tfsmonitor = \"touch /workspace/{Marker}; false\"\n";
        var uid = f.Host.HostUidFor(AgentName.Parse(A));
        using var stop = new CancellationTokenSource();
        var swapper = Task.Run(() =>
        {
            var n = 0;
            while (!stop.IsCancellationRequested)
            {
                var tmp = config + ".swap";
                File.WriteAllText(tmp, n++ % 2 == 0 ? evil : benign);
                NativeTest.ChownOne(tmp, uid);
                File.Move(tmp, config, overwrite: true);
            }
        }, TestContext.Current.CancellationToken);
        var outcomes = new Dictionary<string, int>();
        try
        {
            for (var i = 0; i < 150 && !Pwned(A); i++)
            {
                var r = await f.Call(A, "git.status", new { path = repo });
                var key = r.IsSuccess ? "ran" : r.Error!.ErrorType;
                if (!outcomes.ContainsKey(key) && !r.IsSuccess) TestContext.Current.TestOutputHelper?.WriteLine($"{key}: {r.Error!.Message}");
                outcomes[key] = outcomes.GetValueOrDefault(key) + 1;
            }
        }
        finally
        {
            await stop.CancelAsync();
            await swapper;
        }
        TestContext.Current.TestOutputHelper?.WriteLine(string.Join(", ", outcomes.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.True(outcomes.GetValueOrDefault("ran") > 0, "the race never reached git: " + string.Join(", ", outcomes.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.False(Pwned(A), "a payload swapped in after the check ran");
    }

    internal static string Git(string cwd, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo("git") { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
        return output;
    }
}
