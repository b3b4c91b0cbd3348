using System.Collections.Frozen;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Policy;
using KruxOS.SandboxWorker.Paths;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// The 9 git capabilities (spec §8.9), run with the system <c>git</c> inside the sandbox. Remotes must be
/// allowed by the agent's policy (<c>git.remotes</c>, ADR 0012, passed in with every call): local
/// repositories (file:// or absolute paths under /workspace or a mount) are reached through git's
/// <c>ext::</c> transport running <c>git upload-pack/receive-pack</c> directly (no shell); <c>git://</c>
/// daemons only through the gateway's relay (<see cref="GitTunnel"/>), which checks the policy again.
/// Every other transport is disabled in git itself.
/// <para>Nothing an agent writes may run as a program here (ADR 0016): every repository's configuration
/// must pass <see cref="GitConfigPolicy"/> before git touches it, git's global configuration is a
/// read-only file of the worker (hooks off, no fsmonitor, no helpers), and the git processes are
/// started from <see cref="GitSpawner"/>'s thread, whose Landlock domain lets them execute only git.</para>
/// </summary>
internal sealed class GitOps(PathResolver paths, string agent, string? relaySocket, GitSpawner spawner)
{
    private static readonly TimeSpan GitTimeout = TimeSpan.FromMinutes(5);

    /// <summary>The worker's git configuration (GIT_CONFIG_GLOBAL), shipped beside the worker and bound read-only.</summary>
    public static string GlobalConfigPath => Path.Combine(AppContext.BaseDirectory, "kruxos-git.config");

    // The one list of what this class executes: the dispatch below and the sandbox's operation set read it.
    private static readonly FrozenDictionary<string, Func<GitOps, JsonElement, CallContext, Task<JsonNode>>> Table =
        new Dictionary<string, Func<GitOps, JsonElement, CallContext, Task<JsonNode>>>(StringComparer.Ordinal)
        {
            ["git.init"] = static (g, a, _) => g.Init(a),
            ["git.status"] = static (g, a, _) => g.Status(a),
            ["git.diff"] = static (g, a, _) => g.Diff(a),
            ["git.log"] = static (g, a, _) => g.Log(a),
            ["git.commit"] = static (g, a, _) => g.Commit(a),
            ["git.branch"] = static (g, a, _) => g.Branch(a),
            ["git.clone"] = static (g, a, ctx) => g.Clone(a, ctx),
            ["git.pull"] = static (g, a, ctx) => g.Pull(a, ctx),
            ["git.push"] = static (g, a, ctx) => g.Push(a, ctx),
        }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The capabilities this class executes.</summary>
    public static IEnumerable<string> Operations => Table.Keys;

    public Task<JsonNode> RunAsync(string op, JsonElement a, CallContext ctx) =>
        Table.TryGetValue(op, out var run) ? run(this, a, ctx) : throw new WorkerException(KruxOS.Core.Errors.Errors.UnknownCapability(op));

    private sealed record GitResult(int Code, string Out, string Err)
    {
        public bool Ok => Code == 0;
        public string Tail => Trim(Err.Length > 0 ? Err : Out);
        private static string Trim(string s) { var t = s.Trim(); return t.Length > 2000 ? t[^2000..] : t; }
    }

    private Task<GitResult> Git(string cwd, params string[] args) => GitEnv(cwd, null, args);

    private Task<GitResult> GitEnv(string cwd, IReadOnlyDictionary<string, string>? env, params string[] args) => GitRemote(cwd, env, null, args);

    /// <summary>Runs git; <paramref name="remote"/> adds the configuration one allowed remote needs.</summary>
    private async Task<GitResult> GitRemote(string cwd, IReadOnlyDictionary<string, string>? env, RemoteAccess? remote, params string[] args)
    {
        var binaries = spawner.Binaries ?? throw FsErrors.Custom("GitUnavailable", "git is not installed in the sandbox", "contact_admin", "Ask the operator to install git.");
        if (!File.Exists(GlobalConfigPath))
            throw FsErrors.Custom("GitUnavailable", "the worker's git configuration is missing, so git is not run", "contact_admin", "Ask the operator to reinstall KruxOS.");
        var psi = new ProcessStartInfo(binaries.Git)
        {
            WorkingDirectory = cwd,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var x in args) psi.ArgumentList.Add(x);
        // Exactly this environment: nothing of the worker's leaks in, and no variable can name a program.
        psi.Environment.Clear();
        psi.Environment["PATH"] = "/usr/bin:/bin";
        psi.Environment["HOME"] = "/nonexistent";
        psi.Environment["XDG_CONFIG_HOME"] = "/nonexistent";
        psi.Environment["LC_ALL"] = "C";
        psi.Environment["GIT_EXEC_PATH"] = binaries.ExecPath;
        psi.Environment["GIT_CONFIG_NOSYSTEM"] = "1";
        psi.Environment["GIT_CONFIG_GLOBAL"] = GlobalConfigPath;
        psi.Environment["GIT_TERMINAL_PROMPT"] = "0";
        psi.Environment["GIT_EDITOR"] = ":";
        psi.Environment["GIT_SEQUENCE_EDITOR"] = ":";
        psi.Environment["GIT_PAGER"] = "cat";
        // Transports: none, except the one this call's remote needs (ext:: for a local repository, git:// via the tunnel).
        psi.Environment["GIT_ALLOW_PROTOCOL"] = remote?.Protocol ?? string.Empty;
        psi.Environment["GIT_LITERAL_PATHSPECS"] = "1";
        psi.Environment["GIT_MERGE_AUTOEDIT"] = "no";
        psi.Environment["GIT_CEILING_DIRECTORIES"] = string.Join(':', paths.Roots.Select(r => Path.GetDirectoryName(r.Real) ?? "/"));
        psi.Environment["GIT_AUTHOR_NAME"] = agent;
        psi.Environment["GIT_AUTHOR_EMAIL"] = agent + "@kruxos.local";
        psi.Environment["GIT_COMMITTER_NAME"] = agent;
        psi.Environment["GIT_COMMITTER_EMAIL"] = agent + "@kruxos.local";
        if (remote?.Rewrite is { } rewrite)
        {
            // Key and value stay separate (GIT_CONFIG_KEY/VALUE), so no character of a path can change the key.
            psi.Environment["GIT_CONFIG_COUNT"] = "1";
            psi.Environment["GIT_CONFIG_KEY_0"] = $"url.{rewrite.To}.insteadof";
            psi.Environment["GIT_CONFIG_VALUE_0"] = rewrite.From;
        }
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        Process started;
        try { started = await spawner.StartAsync(psi).ConfigureAwait(false); }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException or ObjectDisposedException)
        {
            throw FsErrors.Custom("GitUnavailable", "git could not be started in the sandbox: " + e.Message, "contact_admin", "Ask the operator to check git in the sandbox.");
        }
        using var process = started;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(GitTimeout);
        try { await process.WaitForExitAsync(cts.Token).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw FsErrors.Custom("Timeout", $"git {args.FirstOrDefault()} timed out after {GitTimeout.TotalSeconds:0}s", "retry", "Try again, or use a shallower clone (depth).");
        }
        return new GitResult(process.ExitCode, await stdout.ConfigureAwait(false), await stderr.ConfigureAwait(false));
    }

    /// <summary>
    /// Refuses a repository whose configuration could make git run something (ADR 0016). Git finds the
    /// repository itself (a .git directory, a gitdir file, a bare repository); every configuration file it
    /// would read there is then checked against <see cref="GitConfigPolicy"/>.
    /// </summary>
    private async Task RequireSafeConfig(string cwd, string shownPath)
    {
        if (!await TryRequireSafeConfig(cwd, shownPath).ConfigureAwait(false)) throw NotARepository(shownPath);
    }

    /// <summary>False when <paramref name="cwd"/> is not in a repository; throws when the repository's configuration is refused.</summary>
    private async Task<bool> TryRequireSafeConfig(string cwd, string shownPath)
    {
        var r = await Git(cwd, "rev-parse", "--path-format=absolute", "--git-dir", "--git-common-dir").ConfigureAwait(false);
        var dirs = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (!r.Ok || dirs.Length != 2) return false;
        var (gitDir, commonDir) = (dirs[0], dirs[1]);
        foreach (var file in new[] { Path.Combine(commonDir, "config"), Path.Combine(commonDir, "config.worktree"), Path.Combine(gitDir, "config.worktree") }.Distinct(StringComparer.Ordinal))
            CheckConfigFile(file, shownPath);
        return true;
    }

    private void CheckConfigFile(string file, string shownPath)
    {
        string text;
        // Opened as git would (following links), but non-blocking: a FIFO must not hang the worker.
        var fd = Native.Libc.open(file, Native.Libc.O_RDONLY | Native.Libc.O_NONBLOCK | Native.Libc.O_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno is Native.Libc.ENOENT or Native.Libc.ENOTDIR) return;
            throw UnsafeConfig(shownPath, file, [], $"it cannot be read (errno {errno})");
        }
        using (var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle(fd, ownsHandle: true))
        {
            if (!Native.Libc.IsRegularFile(fd)) throw UnsafeConfig(shownPath, file, [], "it is not a regular file");
            try
            {
                using var stream = new FileStream(handle, FileAccess.Read, 1);
                var buffer = new byte[GitConfigPolicy.MaxBytes + 1];
                var n = stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                if (n > GitConfigPolicy.MaxBytes) throw UnsafeConfig(shownPath, file, [], $"the file is larger than {GitConfigPolicy.MaxBytes / 1024} KiB");
                text = System.Text.Encoding.UTF8.GetString(buffer, 0, n);
            }
            catch (IOException e) { throw UnsafeConfig(shownPath, file, [], "it cannot be read: " + e.Message); }
        }
        if (!GitConfigPolicy.TryParse(text, out var entries, out var error)) throw UnsafeConfig(shownPath, file, [], error!);
        var bad = GitConfigPolicy.Disallowed(entries);
        if (bad.Count > 0) throw UnsafeConfig(shownPath, file, bad, null);
    }

    private string Shown(string file) => paths.FindRoot(file) is not null ? paths.ToVirtual(file) : file;

    private WorkerException UnsafeConfig(string repository, string file, IReadOnlyList<string> keys, string? problem)
    {
        var shownFile = Shown(file);
        var message = keys.Count > 0
            ? $"The git configuration {shownFile} sets {string.Join(", ", keys)}, which git is not run with here: only inert settings (core basics, remotes, branches, identity) are accepted"
            : $"The git configuration {shownFile} is not accepted: {problem}";
        return FsErrors.Custom("UnsafeRepositoryConfig", message, "remove_settings",
            "Remove those settings from the repository's configuration (e.g. `git config --unset <key>` with process.run), then call again.",
            null, ("path", repository), ("config_file", shownFile), ("keys", keys.ToArray()));
    }

    private ResolvedPath Dir(JsonElement a, string field = "path")
    {
        var p = paths.Resolve(Args.OptStr(a, field) ?? ".");
        if (File.Exists(p.Real)) throw FsErrors.NotADirectory(p.Virtual);
        if (!Directory.Exists(p.Real)) throw FsErrors.DirectoryNotFound(p.Virtual);
        return p;
    }

    private async Task<ResolvedPath> Repo(JsonElement a)
    {
        var p = Dir(a);
        await RequireSafeConfig(p.Real, p.Virtual).ConfigureAwait(false);
        return p;
    }

    private static WorkerException NotARepository(string path) => FsErrors.Custom("NotARepository", $"'{path}' is not inside a git repository",
        "init_repository", "Create one with git.init or clone one with git.clone.", "git.init", ("path", path));

    private async Task<string?> Head(string cwd)
    {
        var r = await Git(cwd, "rev-parse", "--verify", "--quiet", "HEAD").ConfigureAwait(false);
        return r.Ok ? r.Out.Trim() : null;
    }

    private async Task<string?> CurrentBranch(string cwd)
    {
        var r = await Git(cwd, "branch", "--show-current").ConfigureAwait(false);
        var b = r.Out.Trim();
        return r.Ok && b.Length > 0 ? b : null;
    }

    private async Task<JsonNode> Init(JsonElement a)
    {
        var p = paths.Resolve(Args.OptStr(a, "path") ?? ".");
        PathResolver.RequireWritable(p, "initialise a repository in");
        if (File.Exists(p.Real)) throw FsErrors.NotADirectory(p.Virtual);
        if (!Directory.Exists(p.Real))
        {
            if (!Directory.Exists(Path.GetDirectoryName(p.Real)!)) throw FsErrors.ParentNotFound(p.Virtual);
            Directory.CreateDirectory(p.Real);
        }
        var branch = Args.OptStr(a, "initial_branch") ?? "main";
        if (branch.StartsWith('-')) throw FsErrors.InvalidInput("initial_branch", "must not start with '-'");
        // Checked outside any repository: the name alone decides.
        var check = await Git("/tmp", "check-ref-format", "--branch", branch).ConfigureAwait(false);
        if (!check.Ok) throw FsErrors.InvalidInput("initial_branch", "is not a valid branch name");
        var bare = Args.Bool(a, "bare");
        var existed = Directory.Exists(Path.Combine(p.Real, ".git")) || File.Exists(Path.Combine(p.Real, ".git")) || (bare && File.Exists(Path.Combine(p.Real, "HEAD")));
        // Re-initialising reads the existing configuration: it must pass the same check as any other call. A
        // directory that is not (yet) a valid repository still has its configuration file checked.
        if (existed && !await TryRequireSafeConfig(p.Real, p.Virtual).ConfigureAwait(false))
            foreach (var file in new[] { Path.Combine(p.Real, ".git", "config"), Path.Combine(p.Real, "config") }) CheckConfigFile(file, p.Virtual);
        var args = new List<string> { "init", "--template=", "--initial-branch=" + branch };
        if (bare) args.Add("--bare");
        args.Add(".");
        var r = await Git(p.Real, [.. args]).ConfigureAwait(false);
        if (!r.Ok) throw FsErrors.Custom("InitFailed", "git init failed: " + r.Tail, "check_path", "Check the path is a writable directory.", "filesystem.stat");
        return new JsonObject { ["path"] = p.Virtual, ["initial_branch"] = branch, ["bare"] = bare, ["reinitialized"] = existed };
    }

    private static string StatusWord(char c) => c switch
    {
        'M' => "modified", 'A' => "added", 'D' => "deleted", 'R' => "renamed", 'C' => "copied", 'T' => "type_changed", 'U' => "unmerged", _ => "modified",
    };

    private async Task<JsonNode> Status(JsonElement a)
    {
        var p = await Repo(a).ConfigureAwait(false);
        var r = await Git(p.Real, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=all", "--ignore-submodules=all").ConfigureAwait(false);
        if (!r.Ok) throw FsErrors.Custom("StatusFailed", "git status failed: " + r.Tail, "retry", "Try again.");
        string? oid = null, head = null, upstream = null;
        int? ahead = null, behind = null;
        JsonArray staged = [], unstaged = [], untracked = [], conflicted = [];
        var records = r.Out.Split('\0');
        for (var i = 0; i < records.Length; i++)
        {
            var rec = records[i];
            if (rec.Length == 0) continue;
            if (rec.StartsWith("# branch.oid ", StringComparison.Ordinal)) oid = rec[13..] == "(initial)" ? null : rec[13..];
            else if (rec.StartsWith("# branch.head ", StringComparison.Ordinal)) head = rec[14..] == "(detached)" ? null : rec[14..];
            else if (rec.StartsWith("# branch.upstream ", StringComparison.Ordinal)) upstream = rec[18..];
            else if (rec.StartsWith("# branch.ab ", StringComparison.Ordinal))
            {
                var parts = rec[12..].Split(' ');
                ahead = int.Parse(parts[0].TrimStart('+'), System.Globalization.CultureInfo.InvariantCulture);
                behind = int.Parse(parts[1].TrimStart('-'), System.Globalization.CultureInfo.InvariantCulture);
            }
            else if (rec[0] is '1' or '2')
            {
                var fields = rec.Split(' ', rec[0] == '1' ? 9 : 10);
                var xy = fields[1];
                var file = fields[^1];
                string? orig = null;
                if (rec[0] == '2') orig = records[++i];
                if (xy[0] != '.') staged.Add(new JsonObject { ["file"] = file, ["status"] = StatusWord(xy[0]), ["original_file"] = orig });
                if (xy[1] != '.') unstaged.Add(new JsonObject { ["file"] = file, ["status"] = StatusWord(xy[1]) });
            }
            else if (rec[0] == 'u') conflicted.Add(new JsonObject { ["file"] = rec.Split(' ', 11)[^1], ["status"] = "conflicted" });
            else if (rec[0] == '?') untracked.Add((JsonNode)rec[2..]);
        }
        var gitDir = (await Git(p.Real, "rev-parse", "--absolute-git-dir").ConfigureAwait(false)).Out.Trim();
        var state = File.Exists(Path.Combine(gitDir, "MERGE_HEAD")) ? "merging"
            : Directory.Exists(Path.Combine(gitDir, "rebase-merge")) || Directory.Exists(Path.Combine(gitDir, "rebase-apply")) ? "rebasing"
            : File.Exists(Path.Combine(gitDir, "CHERRY_PICK_HEAD")) ? "cherry_picking"
            : File.Exists(Path.Combine(gitDir, "REVERT_HEAD")) ? "reverting"
            : File.Exists(Path.Combine(gitDir, "BISECT_LOG")) ? "bisecting" : "normal";
        return new JsonObject
        {
            ["path"] = p.Virtual, ["branch"] = head, ["detached"] = head is null && oid is not null, ["head_commit"] = oid,
            ["upstream"] = upstream, ["ahead"] = ahead, ["behind"] = behind,
            ["staged"] = staged, ["unstaged"] = unstaged, ["untracked"] = untracked, ["conflicted"] = conflicted,
            ["state"] = state, ["clean"] = staged.Count + unstaged.Count + untracked.Count + conflicted.Count == 0,
        };
    }

    private async Task RequireCommit(string cwd, string commit)
    {
        if (commit.StartsWith('-')) throw FsErrors.InvalidInput("commit", "must not start with '-'");
        var r = await Git(cwd, "rev-parse", "--verify", "--quiet", commit + "^{commit}").ConfigureAwait(false);
        if (!r.Ok) throw FsErrors.Custom("CommitNotFound", $"No commit '{commit}' in this repository", "view_log", "List commits first.", "git.log", ("commit", commit));
    }

    private async Task<JsonNode> Diff(JsonElement a)
    {
        var p = await Repo(a).ConfigureAwait(false);
        var common = new List<string> { "-M", "--ignore-submodules=all" };
        if (Args.Bool(a, "cached")) common.Add("--cached");
        if (Args.OptStr(a, "commit") is { } commit) { await RequireCommit(p.Real, commit).ConfigureAwait(false); common.Add(commit); }
        else if (await Head(p.Real).ConfigureAwait(false) is null && !Args.Bool(a, "cached"))
            return new JsonObject { ["path"] = p.Virtual, ["changes"] = new JsonArray(), ["total_additions"] = 0, ["total_deletions"] = 0, ["files_changed"] = 0 };
        var names = await Git(p.Real, ["diff", "--name-status", "-z", .. common]).ConfigureAwait(false);
        var nums = await Git(p.Real, ["diff", "--numstat", "-z", .. common]).ConfigureAwait(false);
        if (!names.Ok || !nums.Ok) throw FsErrors.Custom("DiffFailed", "git diff failed: " + names.Tail + nums.Tail, "retry", "Check the arguments.");
        var statusOf = new Dictionary<string, (string Status, string? From)>(StringComparer.Ordinal);
        var n = names.Out.Split('\0');
        for (var i = 0; i < n.Length && n[i].Length > 0; i++)
        {
            var code = n[i][0];
            if (code is 'R' or 'C') { var from = n[++i]; var to = n[++i]; statusOf[to] = (code == 'R' ? "renamed" : "copied", from); }
            else statusOf[n[++i]] = (code switch { 'A' => "added", 'D' => "deleted", 'M' => "modified", 'T' => "type_changed", _ => "modified" }, null);
        }
        var changes = new JsonArray();
        long adds = 0, dels = 0;
        var parts = nums.Out.Split('\0');
        for (var i = 0; i < parts.Length && parts[i].Length > 0; i++)
        {
            var cols = parts[i].Split('\t');
            string file;
            if (cols.Length >= 3 && cols[2].Length > 0) file = cols[2];
            else { i++; file = parts[++i]; }
            var binary = cols[0] == "-";
            var add = binary ? 0 : long.Parse(cols[0], System.Globalization.CultureInfo.InvariantCulture);
            var del = binary ? 0 : long.Parse(cols[1], System.Globalization.CultureInfo.InvariantCulture);
            adds += add; dels += del;
            var (status, from) = statusOf.GetValueOrDefault(file, ("modified", null));
            changes.Add(new JsonObject { ["file"] = file, ["status"] = status, ["original_file"] = from, ["additions"] = add, ["deletions"] = del, ["binary"] = binary });
        }
        return new JsonObject { ["path"] = p.Virtual, ["changes"] = changes, ["total_additions"] = adds, ["total_deletions"] = dels, ["files_changed"] = changes.Count };
    }

    private async Task<JsonNode> Log(JsonElement a)
    {
        var p = await Repo(a).ConfigureAwait(false);
        var limit = Math.Clamp(Args.OptLong(a, "limit") ?? 20, 1, 500);
        var branch = Args.OptStr(a, "branch");
        var args = new List<string> { "log", "--format=%H%x1f%an%x1f%ae%x1f%aI%x1f%B%x1e", "-n", limit.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        if (Args.OptStr(a, "since") is { } since) args.Add("--since=" + since);
        if (Args.OptStr(a, "author") is { } author) { args.Add("--fixed-strings"); args.Add("--regexp-ignore-case"); args.Add("--author=" + author); }
        if (branch is not null)
        {
            if (branch.StartsWith('-')) throw FsErrors.InvalidInput("branch", "must not start with '-'");
            var v = await Git(p.Real, "rev-parse", "--verify", "--quiet", branch + "^{commit}").ConfigureAwait(false);
            if (!v.Ok) throw FsErrors.Custom("BranchNotFound", $"No branch or revision '{branch}'", "list_branches", "List branches first.", "git.branch", ("branch", branch));
            args.Add(branch);
        }
        else if (await Head(p.Real).ConfigureAwait(false) is null)
            return new JsonObject { ["path"] = p.Virtual, ["commits"] = new JsonArray(), ["total_returned"] = 0, ["branch"] = await CurrentBranch(p.Real).ConfigureAwait(false) };
        args.Add("--");
        var r = await Git(p.Real, [.. args]).ConfigureAwait(false);
        if (!r.Ok) throw FsErrors.Custom("LogFailed", "git log failed: " + r.Tail, "check_input", "Check since/author/branch.");
        var commits = new JsonArray();
        foreach (var rec in r.Out.Split('\x1e', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = rec.TrimStart('\n').Split('\x1f');
            if (f.Length < 5) continue;
            commits.Add(new JsonObject
            {
                ["hash"] = f[0], ["short_hash"] = f[0][..7], ["message"] = f[4].TrimEnd('\n'),
                ["author_name"] = f[1], ["author_email"] = f[2], ["timestamp"] = f[3],
            });
        }
        return new JsonObject { ["path"] = p.Virtual, ["commits"] = commits, ["total_returned"] = commits.Count, ["branch"] = branch ?? await CurrentBranch(p.Real).ConfigureAwait(false) };
    }

    private async Task<JsonNode> Commit(JsonElement a)
    {
        var p = await Repo(a).ConfigureAwait(false);
        PathResolver.RequireWritable(p, "commit in");
        var message = Args.Str(a, "message");
        if (message.Trim().Length == 0) throw FsErrors.InvalidInput("message", "must not be empty");
        var files = Args.StrArray(a, "files");
        var top = (await Git(p.Real, "rev-parse", "--show-toplevel").ConfigureAwait(false)).Out.Trim();
        if (files.Length == 0)
        {
            var add = await Git(p.Real, "add", "-A").ConfigureAwait(false);
            if (!add.Ok) throw FsErrors.Custom("CommitFailed", "git add failed: " + add.Tail, "check_status", "Look at the repository state.", "git.status");
        }
        else
        {
            foreach (var f in files)
            {
                // Each file must stay in scope (and inside this repository).
                var rp = paths.Resolve(f.StartsWith('/') ? f : p.Virtual + "/" + f, followFinal: false);
                if (!(rp.Real + "/").StartsWith(top + "/", StringComparison.Ordinal)) throw FsErrors.OutOfScope(f, "outside the repository");
                var add = await Git(p.Real, "add", "-A", "--", rp.Real).ConfigureAwait(false);
                if (!add.Ok) throw FsErrors.Custom("CommitFailed", $"git add '{f}' failed: " + add.Tail, "check_path", "Check the file exists.", "git.status", ("file", f));
            }
        }
        var staged = await Git(p.Real, "diff", "--cached", "--quiet").ConfigureAwait(false);
        if (staged.Ok)
            throw FsErrors.Custom("NothingToCommit", "There are no changes to commit", "check_status", "See what changed with git.status.", "git.status", ("path", p.Virtual));
        var author = new Dictionary<string, string>();
        if (Args.OptStr(a, "author_name") is { } an) author["GIT_AUTHOR_NAME"] = an;
        if (Args.OptStr(a, "author_email") is { } ae) author["GIT_AUTHOR_EMAIL"] = ae;
        var c = await GitEnv(p.Real, author, "commit", "--no-verify", "-q", "-m", message).ConfigureAwait(false);
        if (!c.Ok) throw FsErrors.Custom("CommitFailed", "git commit failed: " + c.Tail, "check_status", "Look at the repository state.", "git.status");
        var hash = (await Head(p.Real).ConfigureAwait(false))!;
        var changed = await Git(p.Real, "diff-tree", "--no-commit-id", "--name-only", "-r", "--root", "-z", "HEAD").ConfigureAwait(false);
        var list = changed.Out.Split('\0', StringSplitOptions.RemoveEmptyEntries);
        return new JsonObject
        {
            ["commit_hash"] = hash, ["short_hash"] = hash[..7], ["files_committed"] = list.Length,
            ["files"] = new JsonArray([.. list.Select(x => (JsonNode)x!)]), ["branch"] = await CurrentBranch(p.Real).ConfigureAwait(false),
        };
    }

    private async Task<JsonNode> Branch(JsonElement a)
    {
        var p = await Repo(a).ConfigureAwait(false);
        var action = Args.Str(a, "action");
        var name = Args.OptStr(a, "name");
        async Task<string> Name()
        {
            if (string.IsNullOrEmpty(name)) throw FsErrors.InvalidInput("name", $"is required for action '{action}'");
            var ok = await Git(p.Real, "check-ref-format", "--branch", name).ConfigureAwait(false);
            if (!ok.Ok || name.StartsWith('-')) throw FsErrors.InvalidInput("name", "is not a valid branch name");
            return name;
        }
        async Task<bool> Exists(string b) => (await Git(p.Real, "rev-parse", "--verify", "--quiet", "refs/heads/" + b).ConfigureAwait(false)).Ok;
        WorkerException NotFound(string b) => FsErrors.Custom("BranchNotFound", $"No branch '{b}'", "list_branches", "List branches first (action=list).", "git.branch", ("branch", b));
        switch (action)
        {
            case "list": break;
            case "create":
            {
                var b = await Name().ConfigureAwait(false);
                if (await Exists(b).ConfigureAwait(false))
                    throw FsErrors.Custom("BranchAlreadyExists", $"Branch '{b}' already exists", "switch_branch", "Switch to it, or choose another name.", "git.branch", ("branch", b));
                var start = Args.OptStr(a, "start_point") ?? "HEAD";
                if (start.StartsWith('-')) throw FsErrors.InvalidInput("start_point", "must not start with '-'");
                var v = await Git(p.Real, "rev-parse", "--verify", "--quiet", start + "^{commit}").ConfigureAwait(false);
                if (!v.Ok) throw NotFound(start);
                var r = await Git(p.Real, "branch", "--", b, start).ConfigureAwait(false);
                if (!r.Ok) throw FsErrors.Custom("BranchFailed", "git branch failed: " + r.Tail, "check_status", "Look at the repository state.", "git.status");
                break;
            }
            case "switch":
            {
                var b = await Name().ConfigureAwait(false);
                if (!await Exists(b).ConfigureAwait(false)) throw NotFound(b);
                var r = await Git(p.Real, "switch", "--", b).ConfigureAwait(false);
                if (!r.Ok) throw FsErrors.Custom("SwitchFailed", "git switch failed: " + r.Tail, "commit_or_stash", "Commit your changes first.", "git.commit");
                break;
            }
            case "delete":
            {
                var b = await Name().ConfigureAwait(false);
                if (!await Exists(b).ConfigureAwait(false)) throw NotFound(b);
                if (await CurrentBranch(p.Real).ConfigureAwait(false) == b)
                    throw FsErrors.Custom("BranchInUse", $"Cannot delete the current branch '{b}'", "switch_branch", "Switch to another branch first.", "git.branch");
                var r = await Git(p.Real, "branch", Args.Bool(a, "force") ? "-D" : "-d", "--", b).ConfigureAwait(false);
                if (!r.Ok) throw FsErrors.Custom("BranchNotMerged", $"Branch '{b}' is not fully merged", "force_delete", "Merge it first, or pass force=true.", null, ("branch", b));
                break;
            }
            default:
                throw FsErrors.Custom("InvalidAction", $"Unknown branch action '{action}'", "fix_input", "Use list, create, switch or delete.");
        }
        var refs = await Git(p.Real, "for-each-ref", "--format=%(refname)%00%(HEAD)", "refs/heads", "refs/remotes").ConfigureAwait(false);
        var branches = new JsonArray();
        foreach (var line in refs.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var parts = line.Split('\0');
            var isRemote = parts[0].StartsWith("refs/remotes/", StringComparison.Ordinal);
            if (isRemote && parts[0].EndsWith("/HEAD", StringComparison.Ordinal)) continue;
            branches.Add(new JsonObject
            {
                ["name"] = isRemote ? parts[0]["refs/remotes/".Length..] : parts[0]["refs/heads/".Length..],
                ["is_current"] = parts.Length > 1 && parts[1] == "*", ["is_remote"] = isRemote,
            });
        }
        return new JsonObject { ["path"] = p.Virtual, ["action"] = action, ["branches"] = branches, ["current_branch"] = await CurrentBranch(p.Real).ConfigureAwait(false) };
    }

    /// <summary>A prefix rewrite git applies to remote URLs for one call (<c>url.&lt;To&gt;.insteadOf=&lt;From&gt;</c>).</summary>
    private sealed record UrlRewrite(string From, string To);

    /// <summary>How git reaches one remote for one call: a local repository over ext::, or a git:// daemon through a tunnel.</summary>
    private sealed record RemoteAccess(string Protocol, UrlRewrite Rewrite, GitTunnel? Tunnel) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Tunnel?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    private static WorkerException RemoteNotAllowed(string message, string url, string field) =>
        FsErrors.Custom("RemoteNotAllowed", message, "request_access",
            "Ask the operator to add the remote to the git.remotes list of your policy (docs/policy.md).", null, ("remote", url), (field, url));

    /// <summary>
    /// Checks the remote <paramref name="url"/> (exactly as git will read it) against the policy's allowlist and
    /// prepares access to it. A local repository must pass the configuration check too: git runs upload-pack
    /// or receive-pack inside it. It is reached with <c>ext::git %s &lt;path&gt;</c>, which starts those git
    /// programs directly, where git's file:// transport would go through <c>/bin/sh -c</c> — a program the
    /// git processes may not execute.
    /// </summary>
    private async Task<RemoteAccess> OpenRemote(string url, CallContext ctx, string field, string? cloneSource = null)
    {
        if (!GitRemotes.TryNormalize(url, out var normalized, out var error))
            throw RemoteNotAllowed($"Remote '{url}' is not supported: {error}", url, field);
        if (normalized.StartsWith("file://", StringComparison.Ordinal))
        {
            // Canonicalise through the filesystem (symlinks included) before checking, so a link cannot
            // smuggle a repository outside the allowed prefix in.
            var resolved = paths.Resolve(normalized[7..]);
            var canonical = "file://" + resolved.Virtual;
            if (!ctx.GitRemotes.AllowsNormalized(canonical))
                throw RemoteNotAllowed($"Remote '{canonical}' is not allowed by this agent's policy (git.remotes)", url, field);
            if (resolved.Real.Any(char.IsControl))
                throw RemoteNotAllowed($"Remote '{canonical}' has a control character in its path", url, field);
            if (!Directory.Exists(resolved.Real))
                throw FsErrors.Custom("RemoteNotFound", $"No repository at '{resolved.Virtual}'", "check_url", "Check the URL.", null, ("remote", url));
            await RequireSafeConfig(resolved.Real, resolved.Virtual).ConfigureAwait(false);
            return new RemoteAccess("ext", new UrlRewrite(cloneSource ?? url, "ext::git %s " + ExtEscape(resolved.Real)), null);
        }
        if (!ctx.GitRemotes.AllowsNormalized(normalized))
            throw RemoteNotAllowed($"Remote '{normalized}' is not allowed by this agent's policy (git.remotes)", url, field);
        if (relaySocket is null)
            throw FsErrors.Custom("RemoteUnreachable", "This sandbox has no git relay, so git:// remotes cannot be reached", "contact_admin", "Ask the operator to check the gateway's sandbox setup.");
        var rest = url[6..];
        var authority = rest.IndexOf('/') is var slash and >= 0 ? rest[..slash] : rest;
        var tunnel = GitTunnel.Open(relaySocket, "git://" + GitRemotes.Endpoint(normalized), ctx.RelayToken);
        // Only this call's daemon, rewritten to the tunnel's loopback port inside the sandbox.
        return new RemoteAccess("git", new UrlRewrite($"git://{authority}/", $"git://127.0.0.1:{tunnel.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}/"), tunnel);
    }

    /// <summary>One argument of an ext:: command: '%' and ' ' are its only special characters.</summary>
    private static string ExtEscape(string argument) => argument.Replace("%", "%%", StringComparison.Ordinal).Replace(" ", "% ", StringComparison.Ordinal);

    private async Task<JsonNode> Clone(JsonElement a, CallContext ctx)
    {
        var url = Args.Str(a, "url");
        // Git records the remote as given: keep the agent-visible URL so later pull/push checks see the same path.
        var source = url.StartsWith("file://", StringComparison.Ordinal) || url.StartsWith('/') ? url : null;
        await using var remote = await OpenRemote(url, ctx, "url", source).ConfigureAwait(false);
        var dest = paths.Resolve(Args.Str(a, "path"), followFinal: false);
        PathResolver.RequireWritable(dest, "clone into");
        if (File.Exists(dest.Real) || (Directory.Exists(dest.Real) && Directory.EnumerateFileSystemEntries(dest.Real).Any())) throw FsErrors.DestinationExists(dest.Virtual);
        if (!Directory.Exists(Path.GetDirectoryName(dest.Real)!)) throw FsErrors.ParentNotFound(dest.Virtual);
        var args = new List<string> { "clone", "--no-local", "--template=", "-q" };
        if (Args.OptStr(a, "branch") is { } b)
        {
            if (b.StartsWith('-')) throw FsErrors.InvalidInput("branch", "must not start with '-'");
            args.Add("--branch"); args.Add(b);
        }
        if (Args.OptLong(a, "depth") is { } d) { args.Add("--depth"); args.Add(d.ToString(System.Globalization.CultureInfo.InvariantCulture)); }
        args.AddRange(["--", url, dest.Real]);
        var r = await GitRemote(Path.GetDirectoryName(dest.Real)!, null, remote, [.. args]).ConfigureAwait(false);
        if (!r.Ok) throw FsErrors.Custom("CloneFailed", "git clone failed: " + r.Tail, "check_url", "Check the URL and branch.", null, ("url", url));
        var head = await Head(dest.Real).ConfigureAwait(false);
        var branch = await CurrentBranch(dest.Real).ConfigureAwait(false);
        return new JsonObject { ["path"] = dest.Virtual, ["default_branch"] = branch, ["head_commit"] = head };
    }

    /// <summary>
    /// The one URL git will use for <paramref name="remote"/> (fetch URL, or push URL with <paramref name="push"/>).
    /// A remote with several is refused: git would use every one of them, and each would need its own check.
    /// </summary>
    private async Task<string> RemoteUrl(string cwd, string remote, bool push)
    {
        if (remote.StartsWith('-')) throw FsErrors.InvalidInput("remote", "must not start with '-'");
        var r = push
            ? await Git(cwd, "remote", "get-url", "--push", "--all", remote).ConfigureAwait(false)
            : await Git(cwd, "remote", "get-url", "--all", remote).ConfigureAwait(false);
        if (!r.Ok) throw FsErrors.Custom("RemoteNotFound", $"No remote named '{remote}'", "check_remote", "Check the remote name (default origin).", "git.status", ("remote", remote));
        var urls = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        if (urls.Length != 1)
            throw RemoteNotAllowed($"Remote '{remote}' has {urls.Length} {(push ? "push " : string.Empty)}URLs; only a remote with exactly one is supported", remote, "remote");
        return urls[0];
    }

    private async Task<JsonNode> Pull(JsonElement a, CallContext ctx)
    {
        var p = await Repo(a).ConfigureAwait(false);
        PathResolver.RequireWritable(p, "pull into");
        var remote = Args.OptStr(a, "remote") ?? "origin";
        var url = await RemoteUrl(p.Real, remote, push: false).ConfigureAwait(false);
        await using var access = await OpenRemote(url, ctx, "remote").ConfigureAwait(false);
        var before = await Head(p.Real).ConfigureAwait(false);
        var args = new List<string> { "pull", "--no-rebase", "--no-edit", "-q", remote };
        if (Args.OptStr(a, "branch") is { } b) { if (b.StartsWith('-')) throw FsErrors.InvalidInput("branch", "must not start with '-'"); args.Add(b); }
        var r = await GitRemote(p.Real, null, access, [.. args]).ConfigureAwait(false);
        if (!r.Ok)
        {
            var conflicts = await Git(p.Real, "diff", "--name-only", "--diff-filter=U", "-z").ConfigureAwait(false);
            var files = conflicts.Out.Split('\0', StringSplitOptions.RemoveEmptyEntries);
            if (files.Length > 0 || r.Out.Contains("CONFLICT", StringComparison.Ordinal))
            {
                // Fail closed: leave the working tree as it was before the pull.
                await Git(p.Real, "merge", "--abort").ConfigureAwait(false);
                throw FsErrors.Custom("MergeConflict", $"Pull from '{remote}' conflicts in {files.Length} file(s); the merge was aborted",
                    "resolve_manually", "Commit or revert your local changes to those files, then pull again.", "git.status", ("files", files));
            }
            throw FsErrors.Custom("PullFailed", "git pull failed: " + r.Tail, "check_status", "Look at the repository state.", "git.status");
        }
        var after = await Head(p.Real).ConfigureAwait(false);
        long newCommits = 0, filesChanged = 0;
        if (after is not null && after != before)
        {
            var count = await Git(p.Real, "rev-list", "--count", before is null ? after : $"{before}..{after}").ConfigureAwait(false);
            newCommits = long.Parse(count.Out.Trim(), System.Globalization.CultureInfo.InvariantCulture);
            var changed = before is null
                ? await Git(p.Real, "ls-files", "-z").ConfigureAwait(false)
                : await Git(p.Real, "diff", "--name-only", "-z", before, after).ConfigureAwait(false);
            filesChanged = changed.Out.Split('\0', StringSplitOptions.RemoveEmptyEntries).Length;
        }
        return new JsonObject { ["path"] = p.Virtual, ["up_to_date"] = after == before, ["new_commits"] = newCommits, ["files_changed"] = filesChanged, ["head_commit"] = after };
    }

    private async Task<JsonNode> Push(JsonElement a, CallContext ctx)
    {
        var p = await Repo(a).ConfigureAwait(false);
        var remote = Args.OptStr(a, "remote") ?? "origin";
        var url = await RemoteUrl(p.Real, remote, push: true).ConfigureAwait(false);
        await using var access = await OpenRemote(url, ctx, "remote").ConfigureAwait(false);
        var branch = Args.OptStr(a, "branch") ?? await CurrentBranch(p.Real).ConfigureAwait(false)
            ?? throw FsErrors.InvalidInput("branch", "HEAD is detached; name the branch to push");
        if (branch.StartsWith('-')) throw FsErrors.InvalidInput("branch", "must not start with '-'");
        var r = await GitRemote(p.Real, null, access, "push", "--porcelain", remote, $"refs/heads/{branch}:refs/heads/{branch}").ConfigureAwait(false);
        var refs = new JsonArray();
        var rejected = false;
        foreach (var line in r.Out.Split('\n'))
        {
            var cols = line.Split('\t');
            if (cols.Length < 3 || cols[0].Length != 1) continue;
            var flag = cols[0][0];
            rejected |= flag == '!';
            var fromTo = cols[1].Split(':');
            refs.Add(new JsonObject
            {
                ["local_ref"] = fromTo[0], ["remote_ref"] = fromTo.Length > 1 ? fromTo[1] : null,
                ["status"] = flag switch { ' ' => "fast_forward", '+' => "forced", '-' => "deleted", '*' => "new", '=' => "up_to_date", '!' => "rejected", _ => "unknown" },
                ["summary"] = cols[2],
            });
        }
        if (rejected)
            throw FsErrors.Custom("PushRejected", $"The remote rejected the push of '{branch}' (it has commits you do not have)", "pull_first",
                "Pull, resolve, and push again.", "git.pull", ("branch", branch));
        if (!r.Ok) throw FsErrors.Custom("PushFailed", "git push failed: " + r.Tail, "check_remote", "Check the remote and your permissions on it.");
        return new JsonObject { ["path"] = p.Virtual, ["pushed_refs"] = refs, ["head_commit"] = await Head(p.Real).ConfigureAwait(false), ["branch"] = branch };
    }
}
