using System.Diagnostics;
using KruxOS.Core.Agents;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Sandbox.Tests;

[Collection(SandboxCollection.Name)]
public sealed class GitTests(SandboxFixture f)
{
    private const string A = "git-local";

    [Fact]
    public async Task Should_init_commit_and_inspect_a_local_repository()
    {
        var init = await f.Ok(A, "git.init", new { path = "proj" });
        Assert.False(init.GetProperty("reinitialized").GetBoolean());
        Assert.Equal("main", init.GetProperty("initial_branch").GetString());
        await f.Fails(A, "git.status", new { path = "." }, "NotARepository");
        await f.Ok(A, "filesystem.write", new { path = "proj/a.txt", content = "one\ntwo\n" });
        var status = await f.Ok(A, "git.status", new { path = "proj" });
        Assert.Equal("main", status.GetProperty("branch").GetString());
        Assert.Equal("a.txt", status.GetProperty("untracked")[0].GetString());
        Assert.False(status.GetProperty("clean").GetBoolean());

        var c1 = await f.Ok(A, "git.commit", new { path = "proj", message = "first" });
        Assert.Equal(1, c1.GetProperty("files_committed").GetInt32());
        Assert.Equal("main", c1.GetProperty("branch").GetString());
        await f.Fails(A, "git.commit", new { path = "proj", message = "again" }, "NothingToCommit");
        Assert.True((await f.Ok(A, "git.status", new { path = "proj" })).GetProperty("clean").GetBoolean());

        await f.Ok(A, "filesystem.write", new { path = "proj/a.txt", content = "one\nTWO\nthree\n" });
        await f.Ok(A, "filesystem.write", new { path = "proj/b.txt", content = "b\n" });
        var diff = await f.Ok(A, "git.diff", new { path = "proj" });
        var change = diff.GetProperty("changes")[0];
        Assert.Equal("a.txt", change.GetProperty("file").GetString());
        Assert.Equal("modified", change.GetProperty("status").GetString());
        Assert.Equal(2, change.GetProperty("additions").GetInt32());
        Assert.Equal(1, change.GetProperty("deletions").GetInt32());
        var c2 = await f.Ok(A, "git.commit", new { path = "proj", message = "second", files = new[] { "b.txt" }, author_name = "Ada", author_email = "ada@example.org" });
        Assert.Equal(1, c2.GetProperty("files_committed").GetInt32());
        Assert.Equal("a.txt", (await f.Ok(A, "git.status", new { path = "proj" })).GetProperty("unstaged")[0].GetProperty("file").GetString());
        var cached = await f.Ok(A, "git.diff", new { path = "proj", commit = c1.GetProperty("commit_hash").GetString() });
        Assert.Equal(2, cached.GetProperty("files_changed").GetInt32());
        await f.Fails(A, "git.diff", new { path = "proj", commit = "deadbeef" }, "CommitNotFound");

        var log = await f.Ok(A, "git.log", new { path = "proj" });
        Assert.Equal(2, log.GetProperty("total_returned").GetInt32());
        var newest = log.GetProperty("commits")[0];
        Assert.Equal("second", newest.GetProperty("message").GetString());
        Assert.Equal("Ada", newest.GetProperty("author_name").GetString());
        Assert.Equal(7, newest.GetProperty("short_hash").GetString()!.Length);
        Assert.Equal(1, (await f.Ok(A, "git.log", new { path = "proj", author = "ada@" })).GetProperty("total_returned").GetInt32());
        Assert.Equal(1, (await f.Ok(A, "git.log", new { path = "proj", limit = 1 })).GetProperty("total_returned").GetInt32());
        await f.Fails(A, "git.log", new { path = "proj", branch = "nope" }, "BranchNotFound");
        await f.Fails(A, "git.commit", new { path = "proj", message = "x", files = new[] { "../../etc/passwd" } }, "PathOutOfScope");
    }

    [Fact]
    public async Task Should_manage_branches()
    {
        await f.Ok(A, "git.init", new { path = "br" });
        await f.Ok(A, "filesystem.write", new { path = "br/f.txt", content = "x" });
        await f.Ok(A, "git.commit", new { path = "br", message = "base" });
        var created = await f.Ok(A, "git.branch", new { path = "br", action = "create", name = "feature" });
        Assert.Equal(2, created.GetProperty("branches").GetArrayLength());
        await f.Fails(A, "git.branch", new { path = "br", action = "create", name = "feature" }, "BranchAlreadyExists");
        var switched = await f.Ok(A, "git.branch", new { path = "br", action = "switch", name = "feature" });
        Assert.Equal("feature", switched.GetProperty("current_branch").GetString());
        await f.Fails(A, "git.branch", new { path = "br", action = "switch", name = "ghost" }, "BranchNotFound");
        await f.Fails(A, "git.branch", new { path = "br", action = "delete", name = "feature" }, "BranchInUse");
        await f.Ok(A, "git.branch", new { path = "br", action = "switch", name = "main" });
        var deleted = await f.Ok(A, "git.branch", new { path = "br", action = "delete", name = "feature" });
        Assert.Single(deleted.GetProperty("branches").EnumerateArray());
        await f.Fails(A, "git.branch", new { path = "br", action = "create", name = "bad..name" }, "InvalidInput");
        var list = await f.Ok(A, "git.branch", new { path = "br", action = "list" });
        Assert.True(list.GetProperty("branches")[0].GetProperty("is_current").GetBoolean());
    }

    [Fact]
    public async Task Should_clone_push_and_pull_through_an_allowlisted_mount()
    {
        const string G = "git-agent"; // allowlist: /mnt/remotes (fixture)
        var remotes = Directory.CreateTempSubdirectory("kruxos-remotes-").FullName;
        try
        {
            Git(remotes, "init", "--bare", "-q", "-b", "main", "origin.git");
            NativeTest.Chown(remotes, f.Host.HostUidFor(AgentName.Parse(G)));
            f.Host.Mounts.Add(G, remotes, "remotes", readOnly: false);
            // Mounts apply when the agent's sandbox starts; another test may already have started it.
            await f.Host.StopAgentAsync(AgentName.Parse(G), TestContext.Current.CancellationToken);

            var clone1 = await f.Ok(G, "git.clone", new { url = "file:///mnt/remotes/origin.git", path = "one" });
            Assert.Equal("/workspace/one", clone1.GetProperty("path").GetString());
            await f.Ok(G, "filesystem.write", new { path = "one/readme.md", content = "v1\n" });
            await f.Ok(G, "git.commit", new { path = "one", message = "v1" });
            var push = await f.Ok(G, "git.push", new { path = "one" });
            Assert.Equal("new", push.GetProperty("pushed_refs")[0].GetProperty("status").GetString());
            Assert.Equal(push.GetProperty("head_commit").GetString(), Git(remotes, "--git-dir=origin.git", "rev-parse", "main").Trim());

            var clone2 = await f.Ok(G, "git.clone", new { url = "/mnt/remotes/origin.git", path = "two" });
            Assert.Equal("main", clone2.GetProperty("default_branch").GetString());
            Assert.Equal(push.GetProperty("head_commit").GetString(), clone2.GetProperty("head_commit").GetString());
            await f.Fails(G, "git.clone", new { url = "/mnt/remotes/origin.git", path = "two" }, "DestinationExists");

            await f.Ok(G, "filesystem.write", new { path = "one/readme.md", content = "v2\n" });
            await f.Ok(G, "git.commit", new { path = "one", message = "v2" });
            await f.Ok(G, "git.push", new { path = "one" });
            var pull = await f.Ok(G, "git.pull", new { path = "two" });
            Assert.False(pull.GetProperty("up_to_date").GetBoolean());
            Assert.Equal(1, pull.GetProperty("new_commits").GetInt32());
            Assert.Equal(1, pull.GetProperty("files_changed").GetInt32());
            Assert.True((await f.Ok(G, "git.pull", new { path = "two" })).GetProperty("up_to_date").GetBoolean());

            // Diverge: both change the same line; the second push is rejected, the pull conflicts and is aborted.
            await f.Ok(G, "filesystem.write", new { path = "one/readme.md", content = "from one\n" });
            await f.Ok(G, "git.commit", new { path = "one", message = "one's change" });
            await f.Ok(G, "git.push", new { path = "one" });
            await f.Ok(G, "filesystem.write", new { path = "two/readme.md", content = "from two\n" });
            await f.Ok(G, "git.commit", new { path = "two", message = "two's change" });
            await f.Fails(G, "git.push", new { path = "two" }, "PushRejected");
            var conflict = await f.Fails(G, "git.pull", new { path = "two" }, "MergeConflict");
            Assert.Contains("readme.md", conflict.Error!.Context["files"].GetRawText());
            var after = await f.Ok(G, "git.status", new { path = "two" });
            Assert.Equal("normal", after.GetProperty("state").GetString());
            Assert.Equal("from two\n", await File.ReadAllTextAsync(Path.Combine(f.Workspace(G), "two", "readme.md"), TestContext.Current.CancellationToken));
        }
        finally
        {
            f.Host.Mounts.Remove(G, "remotes");
            await f.Host.StopAgentAsync(AgentName.Parse(G), TestContext.Current.CancellationToken);
            Directory.Delete(remotes, true);
        }
    }

    [Fact]
    public async Task Should_refuse_remotes_outside_the_allowlist()
    {
        await f.Fails(A, "git.clone", new { url = "https://github.com/example/repo.git", path = "net" }, "RemoteNotAllowed");
        await f.Fails(A, "git.clone", new { url = "file:///workspace/proj", path = "copy" }, "RemoteNotAllowed");
        await f.Fails(A, "git.clone", new { url = "ext::sh -c touch% /tmp/pwned", path = "ext" }, "RemoteNotAllowed");
        var listed = await f.Fails("git-agent", "git.clone", new { url = "/etc", path = "etc" }, "PathOutOfScope");
        Assert.True(listed.PathEscape);
    }

    private static string Git(string cwd, params string[] args)
    {
        var psi = new ProcessStartInfo("git") { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
        return output;
    }
}

/// <summary>git:// remotes through the gateway's relay (ADR 0012), against a real git daemon on loopback.</summary>
[Collection(SandboxCollection.Name)]
public sealed class GitDaemonTests(SandboxFixture f)
{
    private const string N = "git-net";

    [Fact]
    public async Task Should_clone_push_and_pull_through_the_relay_when_the_policy_allows_the_daemon()
    {
        await using var daemon = await GitDaemon.StartAsync("shared.git", "secret.git");
        f.GitRemotes[N] = new([[$"git://127.0.0.1:{daemon.Port}/shared.git"]]);
        try
        {
            var clone1 = await f.Ok(N, "git.clone", new { url = daemon.Url("shared.git"), path = "d1" });
            Assert.Equal("/workspace/d1", clone1.GetProperty("path").GetString());
            await f.Ok(N, "filesystem.write", new { path = "d1/readme.md", content = "over the relay\n" });
            await f.Ok(N, "git.commit", new { path = "d1", message = "first" });
            var push = await f.Ok(N, "git.push", new { path = "d1", branch = "main" });
            Assert.Equal("new", push.GetProperty("pushed_refs")[0].GetProperty("status").GetString());
            Assert.Equal(push.GetProperty("head_commit").GetString(), GitDaemon.Run(daemon.Root, "--git-dir=shared.git", "rev-parse", "main").Trim());

            var clone2 = await f.Ok(N, "git.clone", new { url = daemon.Url("shared.git"), path = "d2" });
            Assert.Equal(push.GetProperty("head_commit").GetString(), clone2.GetProperty("head_commit").GetString());
            // the remote is recorded as the agent gave it, not as the tunnel's loopback port
            await f.Ok(N, "filesystem.write", new { path = "d1/readme.md", content = "second\n" });
            await f.Ok(N, "git.commit", new { path = "d1", message = "second" });
            await f.Ok(N, "git.push", new { path = "d1" });
            var pull = await f.Ok(N, "git.pull", new { path = "d2" });
            Assert.Equal(1, pull.GetProperty("new_commits").GetInt32());

            // another repository on the same daemon is not in the list
            var refused = await f.Fails(N, "git.clone", new { url = daemon.Url("secret.git"), path = "s" }, "RemoteNotAllowed");
            Assert.Contains("git.remotes", refused.Error!.Message);
            // and a policy change takes effect on the next call
            f.GitRemotes[N] = new([[$"git://127.0.0.1:{daemon.Port}/secret.git"]]);
            await f.Ok(N, "git.clone", new { url = daemon.Url("secret.git"), path = "s" });
            await f.Fails(N, "git.pull", new { path = "d2" }, "RemoteNotAllowed");
        }
        finally
        {
            f.GitRemotes.TryRemove(N, out _);
        }
    }

    [Fact]
    public async Task Should_never_reach_the_network_for_a_remote_the_policy_does_not_allow()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        f.GitRemotes[N + "-deny"] = new([["git://127.0.0.1:1/"]]);
        try
        {
            await f.Fails(N + "-deny", "git.clone", new { url = $"git://127.0.0.1:{port}/x.git", path = "x" }, "RemoteNotAllowed");
            await f.Fails(N + "-deny", "git.clone", new { url = "https://example.org/x.git", path = "y" }, "RemoteNotAllowed");
            // no allowlist at all: deny by default
            await f.Fails(N + "-none", "git.clone", new { url = $"git://127.0.0.1:{port}/x.git", path = "x" }, "RemoteNotAllowed");
            Assert.False(listener.Pending());
        }
        finally
        {
            f.GitRemotes.TryRemove(N + "-deny", out _);
        }
    }

    [Fact]
    public async Task Should_refuse_at_the_relay_what_no_in_flight_call_allows()
    {
        // The relay is the enforcement point even if the worker were subverted: talk to it like a worker would.
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var dir = Directory.CreateTempSubdirectory("kruxos-relay-").FullName;
        await using var relay = new Worker.GitRelay(dir, "relay-test", 0, false, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var target = $"git://127.0.0.1:{port}";

        Assert.StartsWith("ERR ", await AskAsync(relay.SocketPath, "-", target, "/repo.git"));
        using (var other = relay.Grant(new([[$"{target}/other.git"]])))
            Assert.StartsWith("ERR ", await AskAsync(relay.SocketPath, other.Token, target, "/repo.git"));
        Assert.False(listener.Pending());

        using (var grant = relay.Grant(new([[$"{target}/repo.git"]])))
        {
            // While the call is in flight, only a connection with its token gets through: no token, a guessed
            // one, or the token of an ended call is refused without reaching the daemon.
            Assert.StartsWith("ERR ", await AskAsync(relay.SocketPath, "-", target, "/repo.git"));
            Assert.StartsWith("ERR ", await AskAsync(relay.SocketPath, new string('0', 32), target, "/repo.git"));
            Assert.False(listener.Pending());
            var ask = AskAsync(relay.SocketPath, grant.Token, target, "/repo.git");
            using var accepted = await listener.AcceptTcpClientAsync(TestContext.Current.CancellationToken);
            var buffer = new byte[64];
            var n = await accepted.GetStream().ReadAsync(buffer, TestContext.Current.CancellationToken);
            Assert.Contains("git-upload-pack /repo.git", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
            accepted.Close();
            await ask;
        }
        Directory.Delete(dir, true);
    }

    private static async Task<string> AskAsync(string socketPath, string token, string target, string path)
    {
        using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
        await s.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), TestContext.Current.CancellationToken);
        var payload = $"git-upload-pack {path}\0host=127.0.0.1\0";
        var line = (payload.Length + 4).ToString("x4", System.Globalization.CultureInfo.InvariantCulture) + payload;
        await s.SendAsync(System.Text.Encoding.ASCII.GetBytes(token + " " + target + "\n" + line), System.Net.Sockets.SocketFlags.None, TestContext.Current.CancellationToken);
        // Read until the relay closes: a refusal is one ERR pkt-line, an allowed request whatever the daemon sends.
        using var received = new MemoryStream();
        var buffer = new byte[512];
        int n;
        while ((n = await s.ReceiveAsync(buffer, System.Net.Sockets.SocketFlags.None, TestContext.Current.CancellationToken)) > 0) received.Write(buffer, 0, n);
        var all = received.ToArray();
        return all.Length > 4 ? System.Text.Encoding.ASCII.GetString(all, 4, all.Length - 4) : string.Empty;
    }
}
