using KruxOS.Testing;
using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using System.Threading.Channels;

namespace KruxOS.Bridge.Tests.Support;

/// <summary>
/// A running <c>mcp-bridge</c> process driven line by line: write JSON-RPC to its stdin, read its
/// stdout lines. Disposal kills it (and anything it started) if it is still running.
/// </summary>
public sealed class BridgeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly StringBuilder _stderr = new();

    private BridgeProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) _lines.Writer.TryComplete();
            else _lines.Writer.TryWrite(e.Data);
        };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The built bridge next to the test assembly.</summary>
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "mcp-bridge.dll");

    public string StdErr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>Starts the bridge with only the given KRUXOS_ settings (inherited ones are dropped).</summary>
    public static BridgeProcess Start(IReadOnlyDictionary<string, string> env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        KruxOS.Testing.ProcessRunner.ScrubEnvironment(psi);
        foreach (var (k, v) in env) psi.Environment[k] = v;
        return new BridgeProcess(Process.Start(psi) ?? throw new InvalidOperationException("could not start the bridge"));
    }

    public async Task SendAsync(string json)
    {
        await _process.StandardInput.WriteLineAsync(json);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>The next stdout line as JSON; fails the test with the bridge's stderr when none arrives in time.</summary>
    public async Task<JsonObject> ReadAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Call);
        try
        {
            var line = await _lines.Reader.ReadAsync(cts.Token);
            return JsonNode.Parse(line)!.AsObject();
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            throw new TimeoutException($"no line from the bridge ({e.GetType().Name}); stderr:\n{StdErr}");
        }
    }

    /// <summary>Reads lines until the answer to <paramref name="id"/>, returning it and anything read before it.</summary>
    public async Task<(JsonObject Answer, List<JsonObject> Before)> ReadAnswerAsync(int id, TimeSpan? timeout = null)
    {
        var before = new List<JsonObject>();
        while (true)
        {
            var msg = await ReadAsync(timeout);
            if (msg["id"] is JsonValue v && v.TryGetValue<int>(out var got) && got == id && msg["method"] is null) return (msg, before);
            before.Add(msg);
        }
    }

    /// <summary>Every stdout line still buffered or written before the process closes stdout.</summary>
    public async Task<List<string>> RemainingLinesAsync()
    {
        var list = new List<string>();
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        await foreach (var l in _lines.Reader.ReadAllAsync(cts.Token)) list.Add(l);
        return list;
    }

    /// <summary>Waits until the bridge's log contains <paramref name="text"/> (a state, not a duration, is asserted).</summary>
    public async Task WaitForLogAsync(string text)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        while (!StdErr.Contains(text, StringComparison.Ordinal))
        {
            if (cts.IsCancellationRequested) throw new TimeoutException($"the bridge never logged '{text}'; stderr:\n{StdErr}");
            await Task.Delay(20);
        }
    }

    public void CloseStdin() => _process.StandardInput.Close();

    public async Task<int> WaitForExitAsync()
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { throw new TimeoutException("the bridge did not exit; stderr:\n" + StdErr); }
        return _process.ExitCode;
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
        return ValueTask.CompletedTask;
    }

    public static string Initialize(int id) =>
        "{\"jsonrpc\":\"2.0\",\"id\":" + id + ""","method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"bridge-tests","version":"1.0"}}}""";

    public const string Initialized = """{"jsonrpc":"2.0","method":"notifications/initialized"}""";

    public static string Call(int id, string tool, string args = "{}") =>
        "{\"jsonrpc\":\"2.0\",\"id\":" + id + ",\"method\":\"tools/call\",\"params\":{\"name\":\"" + tool + "\",\"arguments\":" + args + "}}";
}
