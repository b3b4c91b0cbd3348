using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core;
using KruxOS.Sandbox.Protocol;

namespace KruxOS.Sandbox.Worker;

/// <summary>The worker process went away while a call was outstanding.</summary>
internal sealed class WorkerDiedException(string message) : Exception(message);

/// <summary>
/// Client side of the worker pipe: request frames multiplexed by id over stdin, responses and
/// unsolicited events read from stdout by one loop. When the process ends, every pending call fails
/// with <see cref="WorkerDiedException"/>; the owner starts a new worker for the next call.
/// </summary>
internal sealed class WorkerClient : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Stream _stdin;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly ConcurrentDictionary<long, TaskCompletionSource<JsonElement>> _pending = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Action<JsonElement> _onEvent;
    private readonly Action<string> _onStderr;
    private long _nextId;
    private volatile bool _dead;

    private WorkerClient(Process process, Action<JsonElement> onEvent, Action<string> onStderr)
    {
        _process = process;
        _stdin = process.StandardInput.BaseStream;
        _onEvent = onEvent;
        _onStderr = onStderr;
        Exited = Task.Run(ReadLoopAsync);
        _ = Task.Run(DrainStderrAsync);
    }

    public Task Exited { get; }
    public bool IsAlive => !_dead;
    public int Pid => _process.Id;

    /// <summary>Wraps a started worker process and waits for its <c>ready</c> event.</summary>
    public static async Task<WorkerClient> AttachAsync(Process process, Action<JsonElement> onEvent, Action<string> onStderr, TimeSpan timeout, CancellationToken ct)
    {
        var client = new WorkerClient(process, onEvent, onStderr);
        try
        {
            var done = await Task.WhenAny(client._ready.Task, client.Exited, Task.Delay(timeout, ct)).ConfigureAwait(false);
            ct.ThrowIfCancellationRequested();
            if (done != client._ready.Task)
                throw new WorkerDiedException(done == client.Exited ? $"the worker exited during start ({client.LastStderr})" : $"the worker did not become ready within {timeout.TotalSeconds:0}s");
            return client;
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public string LastStderr { get; private set; } = string.Empty;

    /// <summary>Landlock state the worker measured in itself when it became ready ("applied (abi N)" or "not applied (…)").</summary>
    public string Landlock { get; private set; } = "unknown";

    /// <summary>Landlock state of the worker's git layer ("applied", "not applied (…)", "not requested").</summary>
    public string GitLandlock { get; private set; } = "unknown";

    public async Task<JsonElement> CallAsync(string op, JsonElement args, JsonObject context, CancellationToken ct)
    {
        if (_dead) throw new WorkerDiedException("the worker has exited");
        var id = Interlocked.Increment(ref _nextId);
        var tcs = new TaskCompletionSource<JsonElement>(TaskCreationOptions.RunContinuationsAsynchronously);
        _pending[id] = tcs;
        try
        {
            var request = new JsonObject { ["id"] = id, ["op"] = op, ["args"] = JsonNode.Parse(args.GetRawText()), ["ctx"] = context };
            var bytes = JsonSerializer.SerializeToUtf8Bytes(request, CoreJson.Options);
            await _writeLock.WaitAsync(ct).ConfigureAwait(false);
            try { await Framing.WriteAsync(_stdin, bytes, CancellationToken.None).ConfigureAwait(false); }
            catch (IOException e) { throw new WorkerDiedException("writing to the worker failed: " + e.Message); }
            finally { _writeLock.Release(); }
            if (_dead) throw new WorkerDiedException("the worker has exited");
            return await tcs.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        finally { _pending.TryRemove(id, out _); }
    }

    private async Task ReadLoopAsync()
    {
        var stdout = _process.StandardOutput.BaseStream;
        try
        {
            while (true)
            {
                var frame = await Framing.ReadAsync(stdout, CancellationToken.None).ConfigureAwait(false);
                if (frame is null) break;
                using var doc = JsonDocument.Parse(frame);
                var root = doc.RootElement;
                if (root.TryGetProperty("id", out var idEl) && idEl.TryGetInt64(out var id))
                {
                    if (_pending.TryGetValue(id, out var tcs)) tcs.TrySetResult(root.Clone());
                }
                else if (root.TryGetProperty("event", out var ev))
                {
                    if (ev.GetString() == "ready")
                    {
                        Landlock = root.TryGetProperty("landlock", out var ll) && ll.ValueKind == JsonValueKind.String ? ll.GetString() ?? "unknown" : "unknown";
                        GitLandlock = root.TryGetProperty("landlock_git", out var lg) && lg.ValueKind == JsonValueKind.String ? lg.GetString() ?? "unknown" : "unknown";
                        _ready.TrySetResult();
                    }
                    else if (root.TryGetProperty("data", out var data)) _onEvent(data.Clone());
                }
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException or ObjectDisposedException) { }
        finally
        {
            _dead = true;
            try { await _process.WaitForExitAsync().ConfigureAwait(false); } catch (InvalidOperationException) { }
            foreach (var (_, tcs) in _pending) tcs.TrySetException(new WorkerDiedException("the worker exited"));
        }
    }

    private async Task DrainStderrAsync()
    {
        try
        {
            while (await _process.StandardError.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                LastStderr = line.Length > 500 ? line[..500] : line;
                _onStderr(line);
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or InvalidOperationException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _dead = true;
        try { _stdin.Close(); } catch (IOException) { }
        try
        {
            if (!_process.HasExited)
            {
                using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                try { await _process.WaitForExitAsync(grace.Token).ConfigureAwait(false); }
                catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
            }
        }
        catch (InvalidOperationException) { }
        try { await Exited.ConfigureAwait(false); } catch (Exception e) when (e is not OutOfMemoryException) { }
        _process.Dispose();
    }
}
