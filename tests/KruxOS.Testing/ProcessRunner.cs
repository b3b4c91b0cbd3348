using System.Diagnostics;

namespace KruxOS.Testing;

/// <summary>Result of a finished child process.</summary>
public sealed record ProcessResult(int ExitCode, string StdOut, string StdErr);

/// <summary>Runs child processes (the CLI, Node clients) with an environment and a deadline; kills them on timeout.</summary>
public static class ProcessRunner
{
    public static async Task<ProcessResult> RunAsync(string fileName, IEnumerable<string> args, IReadOnlyDictionary<string, string>? env = null,
        string? workingDirectory = null, TimeSpan? timeout = null, string? stdin = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        ScrubEnvironment(psi);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {fileName}");
        // The streams are read here, not through BeginOutputReadLine, so waiting for the process does not
        // also wait for end-of-file: a grandchild that outlives it (a build server started by `dotnet publish`)
        // may keep the pipes open indefinitely.
        var stdoutTask = p.StandardOutput.ReadToEndAsync();
        var stderrTask = p.StandardError.ReadToEndAsync();
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Process);
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in time; stderr: {await Drained(stderrTask)}");
        }
        return new ProcessResult(p.ExitCode, await Drained(stdoutTask), await Drained(stderrTask));
    }

    /// <summary>What a stream held once its writer exited: all of it, or what arrived before a short grace period.</summary>
    private static async Task<string> Drained(Task<string> read)
    {
        try { return await read.WaitAsync(TimeSpan.FromSeconds(5)); }
        catch (TimeoutException) { return "(output still held open by a child process that outlived it)"; }
    }

    /// <summary>Removes inherited <c>KRUXOS_</c> variables, so a child sees only the settings its test gives it.</summary>
    public static void ScrubEnvironment(ProcessStartInfo psi)
    {
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("KRUXOS_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
    }

    /// <summary>The built CLI assembly next to the test assembly.</summary>
    public static string CliDll => Path.Combine(AppContext.BaseDirectory, "kruxos.dll");

    /// <summary>Runs the real <c>kruxos</c> CLI against a gateway's control socket.</summary>
    public static Task<ProcessResult> Kruxos(TestGateway gateway, params string[] args) =>
        RunAsync("dotnet", [CliDll, .. args], new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = gateway.ControlSocket });
}
