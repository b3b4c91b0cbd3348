using System.Collections.Concurrent;
using System.Diagnostics;
using KruxOS.SandboxWorker.Native;
using KruxOS.SandboxWorker.Paths;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// Starts every git process from one dedicated thread. A Landlock domain belongs to a thread and the
/// processes it forks, so this thread restricts itself once (<see cref="Landlock.RestrictGitThread"/>) and every
/// git process inherits a domain in which only git and its loader may be executed and nothing but the
/// writable roots, /tmp and device files may be written. The rest of the worker keeps its wider domain
/// (it needs the trash), but never starts a process.
/// </summary>
internal sealed class GitSpawner : IDisposable
{
    private readonly BlockingCollection<(ProcessStartInfo Start, TaskCompletionSource<Process> Done)> _queue = new();
    private readonly Thread _thread;

    /// <summary>Starts the thread and applies the git layer on it when <paramref name="restrict"/> is true.</summary>
    public GitSpawner(GitBinaries? git, IReadOnlyList<Root> roots, string trash, bool restrict)
    {
        Binaries = git;
        using var ready = new ManualResetEventSlim();
        _thread = new Thread(() =>
        {
            State = git is null ? "not applied (git is not installed)"
                : restrict ? Landlock.RestrictGitThread(roots, trash, git)
                : "not requested";
            ready.Set();
            Loop();
        }) { IsBackground = true, Name = "git-spawner" };
        _thread.Start();
        ready.Wait();
    }

    /// <summary>The git binaries, or null when git is missing.</summary>
    public GitBinaries? Binaries { get; }

    /// <summary>What the git layer is ("applied", "not applied (…)", "not requested").</summary>
    public string State { get; private set; } = "starting";

    /// <summary>Starts <paramref name="start"/> on the spawner thread.</summary>
    public Task<Process> StartAsync(ProcessStartInfo start)
    {
        var done = new TaskCompletionSource<Process>(TaskCreationOptions.RunContinuationsAsynchronously);
        try { _queue.Add((start, done)); }
        catch (InvalidOperationException) { done.SetException(new ObjectDisposedException(nameof(GitSpawner))); }
        return done.Task;
    }

    private void Loop()
    {
        foreach (var (start, done) in _queue.GetConsumingEnumerable())
        {
            try { done.SetResult(Process.Start(start) ?? throw new InvalidOperationException("git did not start")); }
            catch (Exception e) when (e is not OutOfMemoryException) { done.SetException(e); }
        }
    }

    public void Dispose()
    {
        _queue.CompleteAdding();
        _thread.Join(TimeSpan.FromSeconds(5));
        _queue.Dispose();
    }
}
