using System.Collections.Frozen;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.Core.Errors;
using KruxOS.Sandbox.Isolation;
using KruxOS.Sandbox.Native;

namespace KruxOS.Sandbox.Processes;

/// <summary>
/// The process capabilities of one agent (spec §8.11). Every <c>process.run</c> is a fresh bubblewrap
/// sandbox in its own cgroup leaf below the agent's group (so per-call limits can only lower the
/// agent's), with no network, as the agent's host uid. Records stay in memory for monitor/list/logs.
/// </summary>
internal sealed partial class ProcessManager(AgentSandbox sandbox) : IAsyncDisposable
{
    private static readonly HashSet<string> ProtectedEnv = new(StringComparer.Ordinal)
        { "PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD", "OLDPWD", "TMPDIR", "HOSTNAME", "IFS", "BASH_ENV", "ENV", "PROMPT_COMMAND", "SHELLOPTS", "BASHOPTS", "GCONV_PATH", "LOCPATH", "NLSPATH" };
    private static readonly Dictionary<string, int> Signals = new(StringComparer.OrdinalIgnoreCase)
    {
        ["SIGHUP"] = 1, ["SIGINT"] = 2, ["SIGQUIT"] = 3, ["SIGKILL"] = 9, ["SIGUSR1"] = 10, ["SIGUSR2"] = 12, ["SIGTERM"] = 15, ["SIGCONT"] = 18, ["SIGSTOP"] = 19,
    };
    private readonly ConcurrentDictionary<string, ManagedProcess> _processes = new(StringComparer.Ordinal);

    private SandboxOptions Options => sandbox.Host.Options;

    private static SandboxResult Fail(StructuredError e, Stopwatch sw, bool escape = false) => SandboxResult.Fail(e, ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds), escape);

    // The one list of what this class executes: the dispatch below and the sandbox's operation set read it.
    private static readonly FrozenDictionary<string, Func<ProcessManager, JsonElement, CancellationToken, Task<SandboxResult>>> Table =
        new Dictionary<string, Func<ProcessManager, JsonElement, CancellationToken, Task<SandboxResult>>>(StringComparer.Ordinal)
        {
            ["process.run"] = static (m, a, ct) => m.RunAsync(a, ct),
            ["process.monitor"] = static (m, a, _) => Task.FromResult(m.Monitor(a)),
            ["process.kill"] = static (m, a, ct) => m.KillAsync(a, ct),
            ["process.list"] = static (m, a, _) => Task.FromResult(m.List(a)),
            ["process.logs"] = static (m, a, _) => Task.FromResult(m.Logs(a)),
        }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>The capabilities this class executes.</summary>
    public static IEnumerable<string> Operations => Table.Keys;

    /// <summary>Executes one of <see cref="Operations"/>; an unknown name is an <c>UnknownCapability</c> result.</summary>
    public Task<SandboxResult> ExecuteAsync(string capability, JsonElement arguments, CancellationToken ct) =>
        Table.TryGetValue(capability, out var run) ? run(this, arguments, ct) : Task.FromResult(SandboxResult.Fail(Errors.UnknownCapability(capability), ResourceUsage.Elapsed(0)));

    public async Task<SandboxResult> RunAsync(JsonElement a, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var command = a.GetProperty("command").GetString() ?? string.Empty;
        var args = a.TryGetProperty("args", out var av) && av.ValueKind == JsonValueKind.Array ? av.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : x.GetRawText()).ToArray() : [];
        var background = a.TryGetProperty("background", out var bg) && bg.ValueKind == JsonValueKind.True;
        var timeout = TimeSpan.FromSeconds(a.TryGetProperty("timeout", out var to) && to.TryGetDouble(out var t) ? Math.Clamp(t, 0.1, 3600) : 300);
        var stdin = a.TryGetProperty("stdin", out var si) && si.ValueKind == JsonValueKind.String ? si.GetString() : null;
        var lines = a.TryGetProperty("stdout_lines", out var sl) && sl.TryGetInt32(out var n) ? Math.Clamp(n, 0, 10_000) : 100;
        if (command.Length == 0) return Fail(Errors.InvalidInput("command", "must not be empty"), sw);

        // Working directory: in the workspace or a mount, by its name alone here; the file system is asked below, in the sandbox.
        var wdInput = a.TryGetProperty("working_directory", out var wd) && wd.ValueKind == JsonValueKind.String ? wd.GetString()! : "/workspace";
        var (wdNormalized, wdError) = NormalizeDirectory(wdInput, sandbox.Mounts.Select(m => m.Target));
        if (wdError is not null) return Fail(wdError, sw, escape: wdError.ErrorType == "PathOutOfScope");

        // Environment: base values the agent cannot override, plus its own.
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ["HOME"] = "/workspace", ["USER"] = "agent", ["LOGNAME"] = "agent",
            ["SHELL"] = "/bin/sh", ["TMPDIR"] = "/tmp", ["LANG"] = "C.UTF-8", ["TERM"] = "dumb",
        };
        if (a.TryGetProperty("environment", out var ev) && ev.ValueKind == JsonValueKind.Object)
        {
            foreach (var p in ev.EnumerateObject())
            {
                if (!EnvName().IsMatch(p.Name)) return Fail(Errors.InvalidInput("environment", $"'{p.Name}' is not a valid variable name"), sw);
                if (ProtectedEnv.Contains(p.Name) || p.Name.StartsWith("LD_", StringComparison.Ordinal) || p.Name.StartsWith("KRUXOS_", StringComparison.Ordinal))
                    return Fail(Errors.InvalidInput("environment", $"'{p.Name}' is protected and cannot be set (PATH, HOME, USER, SHELL, TMPDIR, IFS, BASH_ENV/ENV, LD_*, KRUXOS_*)"), sw);
                if (p.Value.ValueKind != JsonValueKind.String) return Fail(Errors.InvalidInput("environment", $"'{p.Name}' must be a string"), sw);
                env[p.Name] = p.Value.GetString()!;
            }
        }

        // Limits: a call may only lower the agent's allocation.
        var agent = sandbox.Limits;
        var limits = agent;
        if (a.TryGetProperty("cpu_limit", out var cl) && cl.ValueKind == JsonValueKind.Number)
        {
            var cores = cl.GetDouble();
            if (cores <= 0 || cores > agent.CpuCores) return Fail(ProcessErrors.LimitExceeded("cpu_limit", cores.ToString(CultureInfo.InvariantCulture), agent.CpuCores.ToString(CultureInfo.InvariantCulture) + " cores"), sw);
            limits = limits with { CpuCores = cores };
        }
        if (a.TryGetProperty("memory_limit", out var ml) && ml.ValueKind == JsonValueKind.Number)
        {
            var bytes = ml.GetInt64();
            if (bytes < 4 * 1024 * 1024 || bytes > agent.MemoryBytes) return Fail(ProcessErrors.LimitExceeded("memory_limit", bytes.ToString(CultureInfo.InvariantCulture), SandboxErrors.Bytes(agent.MemoryBytes) + " (minimum 4 MiB)"), sw);
            limits = limits with { MemoryBytes = bytes };
        }

        if (command.Contains('\0')) return Fail(Errors.InvalidInput("command", "must not contain NUL"), sw);
        if (sandbox.Stopped) return Fail(SandboxErrors.Stopped(sandbox.Agent), sw);
        var (found, notFound) = await FindAsync(wdInput, wdNormalized, command, ct).ConfigureAwait(false);
        if (notFound is not null) return Fail(notFound.Value.Error, sw, notFound.Value.Escape);
        var (wdVirtual, wdHost, commandHost) = found;

        if (sandbox.Stopped) return Fail(SandboxErrors.Stopped(sandbox.Agent), sw);
        var id = "p-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(5));
        var display = string.Join(' ', new[] { command }.Concat(args.Select(x => x.Contains(' ') ? "'" + x + "'" : x)));
        ManagedProcess mp;
        try
        {
            if (Options.Disabled)
            {
                var process = Launcher.StartUnconfined([commandHost, .. args], wdHost, env);
                mp = new ManagedProcess(id, display, process, null, limits, Options.ProcessOutputBytes);
            }
            else
            {
                var group = sandbox.Host.Cgroups!.Create(sandbox.CgroupPath + "/" + id, limits);
                var spec = new LaunchSpec(sandbox.Agent, sandbox.HostUid, sandbox.Workspace, sandbox.Mounts, [], [], wdVirtual,
                    [command, .. args], env, group);
                Process process;
                try { process = sandbox.Host.Launcher.Start(spec); }
                catch { group.Remove(); throw; }
                mp = new ManagedProcess(id, display, process, group, limits, Options.ProcessOutputBytes);
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            return Fail(ProcessErrors.SpawnFailed(e.Message), sw);
        }
        _processes[id] = mp;
        Prune();
        mp.Begin(background ? null : stdin);
        ReportExit(mp, background);
        // Stopping snapshots the processes after setting the flag; whichever of the two runs second sees the other.
        if (sandbox.Stopped)
        {
            mp.Terminate(ProcessState.Killed);
            return Fail(SandboxErrors.Stopped(sandbox.Agent), sw);
        }

        if (background) return SandboxResult.Ok(Json(RunView(mp, lines)), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));

        var finished = await Task.WhenAny(mp.Exited, Task.Delay(timeout, ct)).ConfigureAwait(false);
        if (finished != mp.Exited)
        {
            mp.Terminate(ct.IsCancellationRequested ? ProcessState.Killed : ProcessState.TimedOut);
            await mp.Exited.ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
        }
        var usage = mp.Usage();
        if (mp.OomKilled)
            return SandboxResult.Fail(SandboxErrors.ResourceExhausted("memory", SandboxErrors.Bytes(limits.MemoryBytes), SandboxErrors.Bytes(limits.MemoryBytes) + " (OOM kill)")
                .WithContext("process_id", id).WithContext("stderr_summary", mp.Stderr.LastLines(lines)), usage);
        // Any refused fork fails the call (a fork bomb's parent often exits 0 while its children hit the limit).
        if (mp.PidsLimitHit)
            return SandboxResult.Fail(SandboxErrors.ResourceExhausted("pids", limits.Pids.ToString(CultureInfo.InvariantCulture), limits.Pids.ToString(CultureInfo.InvariantCulture) + " (fork refused)")
                .WithContext("process_id", id).WithContext("state", mp.StateName).WithContext("exit_code", mp.ExitCode).WithContext("stderr_summary", mp.Stderr.LastLines(Math.Min(lines, 20))), usage);
        if (mp.SpawnError is { } spawn) return SandboxResult.Fail(spawn, usage);
        return SandboxResult.Ok(Json(RunView(mp, lines)), usage);
    }

    private static JsonElement Json(JsonObject o) => JsonSerializer.SerializeToElement(o);

    // Every end (completion, kill, timeout, session stop) is reported once, with the state this host set.
    private void ReportExit(ManagedProcess mp, bool background)
    {
        if (!KruxOS.Core.Agents.AgentName.TryParse(sandbox.Agent, out var agent, out _)) return;
        var host = sandbox.Host;
        _ = mp.Exited.ContinueWith(_ => host.PublishProcessExit(new ProcessExitEvent(agent, mp.Id, mp.StateName,
            mp.State == ProcessState.Completed ? mp.ExitCode : null, background, DateTimeOffset.UtcNow)), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private static JsonObject UsageJson(ResourceUsage u) => new()
    {
        ["cpu_ms"] = u.CpuMs, ["memory_peak_bytes"] = u.MemoryPeakBytes, ["io_read_bytes"] = u.IoReadBytes, ["io_write_bytes"] = u.IoWriteBytes,
    };

    private static JsonObject RunView(ManagedProcess mp, int lines) => new()
    {
        ["process_id"] = mp.Id,
        ["state"] = mp.StateName,
        ["exit_code"] = mp.State == ProcessState.Completed ? mp.ExitCode : null,
        ["stdout_summary"] = mp.Stdout.LastLines(lines),
        ["stderr_summary"] = mp.Stderr.LastLines(lines),
        ["stdout_size"] = mp.Stdout.Total,
        ["stderr_size"] = mp.Stderr.Total,
        ["duration_ms"] = (long)mp.Duration.TotalMilliseconds,
        ["resource_usage"] = UsageJson(mp.Usage()),
    };

    private static JsonObject Summary(ManagedProcess mp) => new()
    {
        ["process_id"] = mp.Id,
        ["command"] = mp.Command,
        ["state"] = mp.StateName,
        ["exit_code"] = mp.State == ProcessState.Completed ? mp.ExitCode : null,
        ["started_at"] = mp.StartedAt.ToString("O", CultureInfo.InvariantCulture),
        ["duration_ms"] = (long)mp.Duration.TotalMilliseconds,
        ["resource_usage"] = UsageJson(mp.Usage()),
        ["resource_exhausted"] = mp.OomKilled ? "memory" : null,
    };

    public SandboxResult Monitor(JsonElement a)
    {
        var sw = Stopwatch.StartNew();
        var id = a.GetProperty("process_id").GetString() ?? string.Empty;
        if (!_processes.TryGetValue(id, out var mp)) return Fail(ProcessErrors.NotFound(id), sw);
        return SandboxResult.Ok(Json(Summary(mp)), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
    }

    public SandboxResult List(JsonElement a)
    {
        var sw = Stopwatch.StartNew();
        var filter = a.TryGetProperty("state_filter", out var f) && f.ValueKind == JsonValueKind.String ? f.GetString()! : "all";
        if (filter is not ("running" or "completed" or "killed" or "timed_out" or "all")) return Fail(ProcessErrors.InvalidFilter(filter), sw);
        var limit = a.TryGetProperty("limit", out var l) && l.TryGetInt32(out var li) ? Math.Clamp(li, 1, 1000) : 50;
        var matching = _processes.Values.Where(p => filter == "all" || p.StateName == filter).OrderByDescending(p => p.StartedAt).ToList();
        var arr = new JsonArray();
        foreach (var p in matching.Take(limit)) arr.Add(Summary(p));
        return SandboxResult.Ok(Json(new JsonObject { ["processes"] = arr, ["total"] = matching.Count }), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
    }

    public SandboxResult Logs(JsonElement a)
    {
        var sw = Stopwatch.StartNew();
        var id = a.GetProperty("process_id").GetString() ?? string.Empty;
        var stream = a.TryGetProperty("stream", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()! : "both";
        if (stream is not ("stdout" or "stderr" or "both")) return Fail(ProcessErrors.InvalidStream(stream), sw);
        if (!_processes.TryGetValue(id, out var mp)) return Fail(ProcessErrors.NotFound(id), sw);
        var offset = a.TryGetProperty("offset", out var o) && o.TryGetInt64(out var ov) ? Math.Max(0, ov) : 0;
        var limit = a.TryGetProperty("limit", out var l) && l.TryGetInt64(out var lv) ? Math.Clamp(lv, 0, 4 * 1024 * 1024) : 1024 * 1024;
        var (outBytes, outTrunc) = stream is "stdout" or "both" ? mp.Stdout.Read(offset, limit) : ([], false);
        var (errBytes, errTrunc) = stream is "stderr" or "both" ? mp.Stderr.Read(offset, limit) : ([], false);
        return SandboxResult.Ok(Json(new JsonObject
        {
            ["process_id"] = id, ["state"] = mp.StateName,
            ["stdout"] = stream == "stderr" ? null : Encoding.UTF8.GetString(outBytes),
            ["stderr"] = stream == "stdout" ? null : Encoding.UTF8.GetString(errBytes),
            ["stdout_size"] = mp.Stdout.Total, ["stderr_size"] = mp.Stderr.Total, ["truncated"] = outTrunc || errTrunc,
        }), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
    }

    public async Task<SandboxResult> KillAsync(JsonElement a, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        var id = a.GetProperty("process_id").GetString() ?? string.Empty;
        if (!_processes.TryGetValue(id, out var mp)) return Fail(ProcessErrors.NotFound(id), sw);
        var signalName = a.TryGetProperty("signal", out var sg) && sg.ValueKind == JsonValueKind.String ? sg.GetString()! : "SIGTERM";
        if (!signalName.StartsWith("SIG", StringComparison.OrdinalIgnoreCase)) signalName = "SIG" + signalName;
        signalName = signalName.ToUpperInvariant();
        if (!Signals.TryGetValue(signalName, out var signal)) return Fail(Errors.InvalidInput("signal", "must be one of " + string.Join(", ", Signals.Keys)), sw);
        var forceAfter = a.TryGetProperty("force_after", out var fa) && fa.TryGetDouble(out var fav) ? Math.Clamp(fav, 0, 300) : 10;
        if (mp.State != ProcessState.Running) return Fail(ProcessErrors.AlreadyExited(id, mp.StateName), sw);

        var sent = mp.Signal(signal, Options.BwrapPath);
        if (!sent && signal != Libc.SIGKILL) return Fail(ProcessErrors.KillFailed(id, "no process of it is left to signal"), sw);
        var escalated = false;
        if (signal == Libc.SIGKILL) mp.Terminate(ProcessState.Killed);
        else if (signal is 1 or 2 or 3 or 15)
        {
            var done = forceAfter > 0
                ? await Task.WhenAny(mp.Exited, Task.Delay(TimeSpan.FromSeconds(forceAfter), ct)).ConfigureAwait(false)
                : mp.Exited;
            if (forceAfter > 0 && done != mp.Exited)
            {
                mp.Terminate(ProcessState.Killed);
                escalated = true;
            }
        }
        if (mp.State != ProcessState.Running || escalated)
        {
            using var grace = CancellationTokenSource.CreateLinkedTokenSource(ct);
            grace.CancelAfter(TimeSpan.FromSeconds(10));
            try { await mp.Exited.WaitAsync(grace.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return Fail(ProcessErrors.KillFailed(id, "the process did not exit after SIGKILL"), sw); }
        }
        var exited = mp.Exited.IsCompleted;
        return SandboxResult.Ok(Json(new JsonObject
        {
            ["process_id"] = id,
            ["killed"] = exited,
            ["signal_sent"] = escalated ? "SIGKILL" : signalName,
            ["escalated"] = escalated,
            ["state"] = exited ? (mp.State == ProcessState.Completed ? "completed" : mp.StateName) : "running",
        }), ResourceUsage.Elapsed(sw.Elapsed.TotalMilliseconds));
    }

    /// <summary>
    /// The working directory as the agent named it, normalised by name alone (relative to <c>/workspace</c>; <c>..</c> may
    /// not leave <c>/</c>) and required to lie under <c>/workspace</c> or one of <paramref name="mountTargets"/>.
    /// </summary>
    internal static (string Normalized, StructuredError? Error) NormalizeDirectory(string input, IEnumerable<string> mountTargets)
    {
        if (input.Contains('\0')) return (input, Errors.InvalidInput("working_directory", "must not contain NUL"));
        var combined = input.StartsWith('/') ? input : "/workspace/" + input;
        var stack = new List<string>();
        foreach (var part in combined.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..") { if (stack.Count == 0) return (input, ProcessErrors.PathOutOfScope(input, "'..' leaves the root")); stack.RemoveAt(stack.Count - 1); continue; }
            stack.Add(part);
        }
        var normalized = "/" + string.Join('/', stack);
        static bool Under(string path, string root) => path == root || path.StartsWith(root + "/", StringComparison.Ordinal);
        return Under(normalized, "/workspace") || mountTargets.Any(t => Under(normalized, t))
            ? (normalized, null)
            : (input, ProcessErrors.PathOutOfScope(input, "not under /workspace or a mount"));
    }

    /// <summary>
    /// Finds the working directory and the command where the command's sandbox will: the agent's warm worker resolves
    /// both in the sandbox's own view with the agent's own rights (<c>paths.process</c>). Root resolves nothing here, so
    /// a link the agent planted towards a host path answers the same whether or not that path exists.
    /// </summary>
    private async Task<((string Virtual, string Host, string CommandHost) Found, (StructuredError Error, bool Escape)? Failure)> FindAsync(
        string input, string normalized, string command, CancellationToken ct)
    {
        var query = JsonSerializer.SerializeToElement(new JsonObject { ["working_directory"] = normalized, ["command"] = command });
        SandboxResult reply;
        using (var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            deadline.CancelAfter(Options.DefaultCallTimeout);
            try { reply = await sandbox.CallWorkerAsync("paths.process", query, new JsonObject { ["agent"] = sandbox.Agent }, deadline.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                return (default, (Errors.Timeout("process.run", Options.DefaultCallTimeout.TotalSeconds), false));
            }
        }
        if (!reply.IsSuccess) return (default, (reply.Error!, reply.PathEscape));
        var data = reply.Data!.Value;
        static string? Text(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        switch (Text(data, "working_directory_problem"))
        {
            case "outside": return (default, (ProcessErrors.PathOutOfScope(input, "a symbolic link leads outside"), true));
            case "denied": return (default, (Errors.InvalidInput("working_directory", $"'{normalized}' cannot be entered: the agent has no search permission on it"), false));
            case not null: return (default, (Errors.InvalidInput("working_directory", $"'{normalized}' is not an existing directory"), false));
        }
        if (Text(data, "working_directory") is not { } wdVirtual || Text(data, "working_directory_real") is not { } wdHost)
            return (default, (Errors.Internal("the sandbox did not say where the command starts"), false));
        if (Text(data, "command_real") is not { } commandHost) return (default, (ProcessErrors.CommandNotFound(command), false));
        return ((wdVirtual, wdHost, commandHost), null);
    }

    private void Prune()
    {
        var finished = _processes.Values.Where(p => p.State != ProcessState.Running).OrderBy(p => p.StartedAt).ToList();
        foreach (var p in finished.Take(Math.Max(0, finished.Count - Options.ProcessHistory))) _processes.TryRemove(p.Id, out _);
    }

    /// <summary>Kills every running process (agent stop); returns how many were running.</summary>
    public async Task<int> StopAllAsync()
    {
        var running = _processes.Values.Where(p => p.State == ProcessState.Running).ToList();
        foreach (var p in running) p.Terminate(ProcessState.Killed);
        foreach (var p in running) { try { await p.Exited.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false); } catch (TimeoutException) { } }
        return running.Count;
    }

    public async ValueTask DisposeAsync() => await StopAllAsync().ConfigureAwait(false);

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,127}$", RegexOptions.CultureInvariant)]
    private static partial Regex EnvName();
}
