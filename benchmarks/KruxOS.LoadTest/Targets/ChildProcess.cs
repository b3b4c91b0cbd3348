using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace KruxOS.LoadTest.Targets;

/// <summary>
/// A server the driver started as <c>dotnet &lt;dll&gt; …</c>, with its output drained and its last lines
/// kept for diagnostics. Every child is killed (with its tree) on dispose, and, as a last resort, when
/// the driver process exits, so a run never leaves a server behind.
/// </summary>
public sealed partial class ChildProcess : IAsyncDisposable
{
    private const int TailLines = 200;
    private static readonly ConcurrentDictionary<int, ChildProcess> Live = new();
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _tail = new();
    private readonly List<(Regex Pattern, TaskCompletionSource<Match> Seen)> _watches = [];
    private readonly Lock _watchLock = new();

    static ChildProcess()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => KillAll();
    }

    private readonly string? _ownedDirectory;

    private ChildProcess(string name, Process process, string? ownedDirectory)
    {
        Name = name;
        _process = process;
        _ownedDirectory = ownedDirectory;
    }

    /// <summary>A short name for messages (<c>floor</c>, <c>gateway</c>).</summary>
    public string Name { get; }

    /// <summary>The child's process id (the <c>dotnet</c> host running the DLL).</summary>
    public int Pid => _process.Id;

    /// <summary>True once the child has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>The child's last output lines, with anything that looks like a token redacted.</summary>
    public IReadOnlyList<string> Tail => [.. _tail];

    /// <summary>
    /// Starts <c>dotnet <paramref name="dll"/> <paramref name="args"/></c> with the DLL's folder as working
    /// directory (so its appsettings.json applies). <paramref name="ownedDirectory"/>, if given, is deleted
    /// once the child has been stopped.
    /// </summary>
    public static ChildProcess Start(string name, string dll, IEnumerable<string> args, string? ownedDirectory = null)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(dll))!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        var child = new ChildProcess(name, process, ownedDirectory);
        process.OutputDataReceived += (_, e) => child.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => child.OnLine(e.Data);
        try
        {
            process.Start();
        }
        catch
        {
            child.DeleteOwnedDirectory();
            process.Dispose();
            throw;
        }
        Live[process.Id] = child;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Completes with the first output line matching <paramref name="pattern"/> (lines seen earlier do not count).</summary>
    public Task<Match> WatchFor(Regex pattern)
    {
        var tcs = new TaskCompletionSource<Match>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_watchLock) _watches.Add((pattern, tcs));
        return tcs.Task;
    }

    private void OnLine(string? line)
    {
        if (line is null) return;
        lock (_watchLock)
        {
            foreach (var (pattern, seen) in _watches)
            {
                var m = pattern.Match(line);
                if (m.Success) seen.TrySetResult(m);
            }
        }
        _tail.Enqueue(Redact(line));
        while (_tail.Count > TailLines) _tail.TryDequeue(out _);
    }

    /// <summary>Replaces 64-hex-digit runs (agent tokens) with <c>&lt;redacted&gt;</c>.</summary>
    public static string Redact(string line) => TokenLike().Replace(line, "<redacted>");

    [GeneratedRegex("[0-9a-fA-F]{64}")]
    private static partial Regex TokenLike();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try { await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { }
            }
        }
        catch (InvalidOperationException) { } // never started or already reaped
        finally
        {
            Live.TryRemove(_process.Id, out _);
            _process.Dispose();
            DeleteOwnedDirectory();
        }
    }

    private void DeleteOwnedDirectory()
    {
        if (_ownedDirectory is null) return;
        try { Directory.Delete(_ownedDirectory, recursive: true); }
        catch (DirectoryNotFoundException) { }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    /// <summary>Kills every child still running and deletes their directories (process exit, second Ctrl+C).</summary>
    public static void KillAll()
    {
        foreach (var (pid, child) in Live)
        {
            try
            {
                if (!child._process.HasExited)
                {
                    child._process.Kill(entireProcessTree: true);
                    child._process.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException) { }
            child.DeleteOwnedDirectory();
            Live.TryRemove(pid, out _);
        }
    }
}
