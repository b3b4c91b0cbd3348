using System.Diagnostics;
using System.Text;
using KruxOS.Testing;

namespace KruxOS.Gateway.Tests.Support;

/// <summary>The built gateway (<c>kruxos-gateway.dll</c>, copied next to this assembly) as a child process; killed on dispose.</summary>
internal sealed class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private GatewayProcess(Process process, string controlSocket, int gatewayPort)
    {
        _process = process;
        ControlSocket = controlSocket;
        GatewayPort = gatewayPort;
    }

    public string ControlSocket { get; }

    public int GatewayPort { get; }

    public static async Task<GatewayProcess> StartAsync(string dataDir, IReadOnlyDictionary<string, string>? environment = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var (port, health, userApi) = (TestGateway.FreePort(), TestGateway.FreePort(), TestGateway.FreePort());
            var socket = Path.Combine(dataDir, "run", "control.sock");
            var psi = new ProcessStartInfo("dotnet")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
            foreach (var a in new[]
                     {
                         Path.Combine(AppContext.BaseDirectory, "kruxos-gateway.dll"), "--data-dir", dataDir, "--gateway-port", $"{port}",
                         "--health-port", $"{health}", "--user-api-port", $"{userApi}", "--dashboard-port", "0", "--control-socket", socket,
                         "--Gateway:PrintBootstrapToken", "false",
                     })
                psi.ArgumentList.Add(a);
            var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the gateway");
            var gateway = new GatewayProcess(process, socket, port);
            process.OutputDataReceived += (_, e) => gateway.Append(e.Data);
            process.ErrorDataReceived += (_, e) => gateway.Append(e.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                if (await gateway.WaitReadyAsync(health)) return gateway;
            }
            catch
            {
                await gateway.DisposeAsync();
                throw;
            }
            await gateway.DisposeAsync();
            if (attempt >= 3) throw new InvalidOperationException($"the gateway exited before it was ready: {gateway.Tail()}");
        }
    }

    /// <summary>Everything the process printed so far (standard output and error).</summary>
    public string Output
    {
        get { lock (_log) return _log.ToString(); }
    }

    /// <summary>Whether the process has ended.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Stops the gateway as a service manager does (SIGTERM) and returns its exit code once it has ended.</summary>
    public async Task<int> TerminateAsync()
    {
        var kill = await ProcessRunner.RunAsync("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        if (kill.ExitCode != 0) throw new InvalidOperationException("kill -TERM failed: " + kill.StdErr);
        using var deadline = new CancellationTokenSource(TestTimeouts.Process);
        await _process.WaitForExitAsync(deadline.Token);
        return _process.ExitCode;
    }

    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true); // SIGKILL
        _process.WaitForExit(TimeSpan.FromSeconds(30)); // bounded: a straggler holding the output pipes must not hang the spec
    }

    public async ValueTask DisposeAsync()
    {
        Kill();
        await Task.CompletedTask;
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null) return;
        lock (_log) _log.AppendLine(line);
    }

    private string Tail()
    {
        lock (_log) return _log.Length > 4000 ? _log.ToString(_log.Length - 4000, 4000) : _log.ToString();
    }

    // True when ready; false when the process exited first (a port was taken: try again).
    private async Task<bool> WaitReadyAsync(int healthPort)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TestTimeouts.Process)
        {
            if (_process.HasExited) return false;
            try
            {
                using var r = await http.GetAsync($"http://127.0.0.1:{healthPort}/health/ready");
                using var health = await http.GetAsync($"http://127.0.0.1:{healthPort}/health");
                var ready = r.IsSuccessStatusCode || SystemPackages.OnlySandboxPackagesMissing(await health.Content.ReadAsStringAsync());
                if (ready && File.Exists(ControlSocket)) return true;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"the gateway did not become ready: {Tail()}");
    }
}
