using System.Diagnostics;
using System.Text;
using KruxOS.Core.Errors;
using KruxOS.Sandbox.Isolation;
using KruxOS.Sandbox.Native;

namespace KruxOS.Sandbox.Processes;

/// <summary>States of a process.run process.</summary>
internal enum ProcessState { Running, Completed, Killed, TimedOut }

/// <summary>One process.run: the launcher process, its cgroup leaf, output tails and final state.</summary>
internal sealed class ManagedProcess
{
    private readonly Process _process;
    private readonly CgroupGroup? _group;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly TaskCompletionSource _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile int _requestedState = -1;
    private ResourceUsage? _finalUsage;

    public ManagedProcess(string id, string command, Process process, CgroupGroup? group, SandboxLimits limits, int outputBytes)
    {
        Id = id;
        Command = command;
        _process = process;
        _group = group;
        Limits = limits;
        Stdout = new TailBuffer(outputBytes);
        Stderr = new TailBuffer(outputBytes);
        StartedAt = DateTimeOffset.UtcNow;
    }

    public string Id { get; }
    public string Command { get; }
    public SandboxLimits Limits { get; }
    public DateTimeOffset StartedAt { get; }
    public TailBuffer Stdout { get; }
    public TailBuffer Stderr { get; }
    public ProcessState State { get; private set; } = ProcessState.Running;
    public int? ExitCode { get; private set; }
    public bool OomKilled { get; private set; }
    public bool PidsLimitHit { get; private set; }
    public StructuredError? SpawnError { get; private set; }
    public Task Exited => _exited.Task;
    public TimeSpan Duration { get; private set; }

    public string StateName => State switch
    {
        ProcessState.Running => "running", ProcessState.Completed => "completed", ProcessState.Killed => "killed", _ => "timed_out",
    };

    /// <summary>Starts pumping output, writes stdin (then closes it) and watches for the exit.</summary>
    public void Begin(string? stdin)
    {
        var outPump = Pump(_process.StandardOutput.BaseStream, Stdout);
        var errPump = Pump(_process.StandardError.BaseStream, Stderr);
        _ = Task.Run(async () =>
        {
            try
            {
                if (stdin is not null) await _process.StandardInput.BaseStream.WriteAsync(Encoding.UTF8.GetBytes(stdin)).ConfigureAwait(false);
                _process.StandardInput.Close();
            }
            catch (IOException) { }
        });
        _ = Task.Run(async () =>
        {
            try
            {
                await _process.WaitForExitAsync().ConfigureAwait(false);
                // Leftover children (daemonised by the command) die with the group.
                _group?.KillAll();
                await Task.WhenAll(outPump, errPump).ConfigureAwait(false);
                Finish();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Whatever happened, the process is over for its callers: never leave them waiting.
                SpawnError ??= ProcessErrors.SpawnFailed("monitoring the process failed: " + e.Message);
                if (State == ProcessState.Running) State = ProcessState.Killed;
                _exited.TrySetResult();
            }
        });
    }

    private static Task Pump(Stream stream, TailBuffer buffer) => Task.Run(async () =>
    {
        var chunk = new byte[16 * 1024];
        try
        {
            int n;
            while ((n = await stream.ReadAsync(chunk).ConfigureAwait(false)) > 0) buffer.Append(chunk.AsSpan(0, n));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException) { }
    });

    private void Finish()
    {
        Duration = _clock.Elapsed;
        var code = _process.ExitCode;
        OomKilled = _group is not null && _group.OomKills() > 0;
        PidsLimitHit = _group is not null && _group.PidsLimitHits() > 0;
        _finalUsage = Measure();
        var requested = _requestedState;
        if (requested >= 0) State = (ProcessState)requested;
        else
        {
            State = ProcessState.Completed;
            ExitCode = code;
            // 97 = the launcher could not join the cgroup; 96 = it could not stage the binds; "bwrap:" = bubblewrap refused before exec.
            var err = Stderr.LastLines(3);
            if (code == Launcher.CgroupJoinFailed) SpawnError = ProcessErrors.SpawnFailed("could not join the process cgroup");
            else if (code == Launcher.StagingFailed) SpawnError = ProcessErrors.SpawnFailed("the sandbox's directories could not be staged: " + err.Trim());
            else if (code != 0 && err.StartsWith("bwrap:", StringComparison.Ordinal)) SpawnError = ProcessErrors.SpawnFailed(err.Trim());
        }
        _process.Dispose();
        _exited.TrySetResult();
        // Removing cgroup directories costs milliseconds per hierarchy on v1; keep it off the caller's path.
        // Anything left (e.g. a crash here) goes with the agent's subtree when the agent stops.
        if (_group is { } g) _ = Task.Run(g.Remove);
    }

    private ResourceUsage Measure()
    {
        long? cpuMs = _group?.CpuUsageMicroseconds() is { } us ? us / 1000 : null;
        return new ResourceUsage(cpuMs, _group?.MemoryPeakBytes(), null, null, (Duration == TimeSpan.Zero ? _clock.Elapsed : Duration).TotalMilliseconds);
    }

    public ResourceUsage Usage() => _finalUsage ?? Measure();

    /// <summary>Ends the process now with SIGKILL to its whole group; the state becomes <paramref name="state"/>.</summary>
    public void Terminate(ProcessState state)
    {
        if (_exited.Task.IsCompleted) return;
        Interlocked.CompareExchange(ref _requestedState, (int)state, -1);
        // The launcher itself first: until it has joined the group (its first instruction) the group cannot reach it,
        // and bubblewrap's --die-with-parent takes the command with it.
        try { _process.Kill(entireProcessTree: _group is null); } catch (InvalidOperationException) { }
        _group?.KillAll();
    }

    /// <summary>Delivers a signal to the command's processes (not to bubblewrap's own); false when none were found.</summary>
    public bool Signal(int signal, string bwrapPath)
    {
        if (signal is 1 or 2 or 3 or 9 or 15) Interlocked.CompareExchange(ref _requestedState, (int)ProcessState.Killed, -1);
        if (_group is null)
        {
            try { return Libc.kill(_process.Id, signal) == 0; } catch (InvalidOperationException) { return false; }
        }
        var any = false;
        foreach (var pid in _group.Pids())
        {
            string? exe = null;
            try { exe = new FileInfo($"/proc/{pid}/exe").LinkTarget; } catch (IOException) { } catch (UnauthorizedAccessException) { }
            if (exe == bwrapPath || exe == "/bin/sh" || exe == "/usr/bin/dash") { if (IsLauncher(pid)) continue; }
            any |= Libc.kill(pid, signal) == 0;
        }
        return any;
    }

    // The launcher sh execs setpriv then bwrap, so only bwrap processes (outer monitor and namespace init) are ours.
    private static bool IsLauncher(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/comm").Trim() is "bwrap" or "kruxos-launch"; }
        catch (IOException) { return false; }
    }
}
