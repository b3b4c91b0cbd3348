using System.Diagnostics;
using System.Text;

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
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        p.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (stdout) stdout.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (stderr) stderr.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        if (stdin is not null) await p.StandardInput.WriteAsync(stdin);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(timeout ?? TestTimeouts.Process);
        try { await p.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish in time; stderr: {stderr}");
        }
        p.WaitForExit();
        return new ProcessResult(p.ExitCode, stdout.ToString(), stderr.ToString());
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
