using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.Support;

/// <summary>
/// A single-node gateway as its own operating-system process (<c>dotnet kruxos-gateway.dll</c>, the SQLite journal in its data
/// directory) on loopback ports chosen once, so a spec can <c>kill -9</c> it and start it again on the same data directory and
/// ports, as an operator's machine would lose it and systemd would bring it back. Its console goes to a log file; every wait is
/// bounded.
/// </summary>
public sealed class GatewayOsProcess : IAsyncDisposable
{
    private readonly string[] _args;
    private readonly string _logPath;
    private Process? _process;

    private GatewayOsProcess(string dataDir, int gatewayPort, int healthPort, string[] args, string logPath)
    {
        DataDir = dataDir;
        GatewayPort = gatewayPort;
        HealthPort = healthPort;
        _args = args;
        _logPath = logPath;
    }

    public string DataDir { get; }
    public int GatewayPort { get; }
    public int HealthPort { get; }
    public string ControlSocket => Path.Combine(DataDir, "run", "control.sock");

    /// <summary>Starts a gateway on <paramref name="dataDir"/> (created by the caller, private) and waits until it answers.</summary>
    public static async Task<GatewayOsProcess> StartAsync(string dataDir)
    {
        var (gateway, userApi, health) = (TestGateway.FreePort(), TestGateway.FreePort(), TestGateway.FreePort());
        string[] args = [Path.Combine(AppContext.BaseDirectory, "kruxos-gateway.dll"), "--data-dir", dataDir,
            "--gateway-port", $"{gateway}", "--user-api-port", $"{userApi}", "--health-port", $"{health}", "--dashboard-port", "0",
            "--control-socket", Path.Combine(dataDir, "run", "control.sock"), "--auth-socket", Path.Combine(dataDir, "run", "auth.sock"),
            "--KruxOS:Sandbox:CgroupName", "kruxos-test-" + Guid.NewGuid().ToString("N")[..8]];
        var p = new GatewayOsProcess(dataDir, gateway, health, args, Path.Combine(Path.GetDirectoryName(dataDir)!, "gateway.log"));
        await p.StartAgainAsync();
        return p;
    }

    /// <summary>Starts the process (again, after a kill) with the same settings and waits until its control socket answers.</summary>
    public async Task StartAgainAsync()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in _args) psi.ArgumentList.Add(a);
        ProcessRunner.ScrubEnvironment(psi);
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        var log = new StreamWriter(_logPath, append: true) { AutoFlush = true };
        _process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start");
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine("ERR " + e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"the gateway exited ({_process.ExitCode}):\n{Log()}");
            try
            {
                if ((await ControlAsync(ControlProtocol.Methods.Status)).Ok) return;
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException) { }
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the gateway did not answer on its control socket:\n" + Log());
            await Task.Delay(250);
        }
    }

    /// <summary>SIGKILL: no shutdown hook runs; the process just vanishes.</summary>
    public async Task KillHardAsync()
    {
        if (_process is null || _process.HasExited) return;
        _process.Kill(entireProcessTree: false);
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        await _process.WaitForExitAsync(cts.Token);
    }

    public string Log()
    {
        try
        {
            using var s = new FileStream(_logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(s).ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>One control-socket request, answered within the process timeout.</summary>
    public async Task<ControlResponse> ControlAsync(string method, JsonObject? parameters = null)
    {
        using var cts = new CancellationTokenSource(TestTimeouts.Process);
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(ControlSocket), cts.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        await stream.WriteAsync(Encoding.UTF8.GetBytes(ControlProtocol.Request(1, method, parameters) + "\n"), cts.Token);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        return ControlResponse.Parse(await reader.ReadLineAsync(cts.Token) ?? throw new IOException("the control socket closed without an answer"));
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await term.WaitForExitAsync();
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try { await _process.WaitForExitAsync(cts.Token); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: false); }
        }
        _process?.Dispose();
    }
}
