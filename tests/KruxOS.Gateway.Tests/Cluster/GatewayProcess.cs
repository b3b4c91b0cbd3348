using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;

namespace KruxOS.Gateway.Tests.Cluster;

/// <summary>
/// One gateway as a separate operating-system process (<c>dotnet kruxos-gateway.dll</c>) on loopback ports chosen at run
/// time, so a spec can kill it with SIGKILL as an operator's machine would lose it. Its console goes to a log file in its
/// own directory; every wait is bounded.
/// </summary>
public sealed class GatewayProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;

    private GatewayProcess(Process process, StreamWriter log, string name, string dataDir, int gatewayPort, int healthPort, int clusterPort)
    {
        _process = process;
        _log = log;
        Name = name;
        DataDir = dataDir;
        GatewayPort = gatewayPort;
        HealthPort = healthPort;
        ClusterPort = clusterPort;
    }

    public string Name { get; }
    public string DataDir { get; }
    public int GatewayPort { get; }
    public int HealthPort { get; }
    public int ClusterPort { get; }
    public string ControlSocket => Path.Combine(DataDir, "run", "control.sock");
    public string LogPath => Path.Combine(Path.GetDirectoryName(Path.GetDirectoryName(DataDir))!, Name + ".log");
    public string ClusterAddress => $"akka.tcp://kruxos@127.0.0.1:{ClusterPort}";
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <c>kruxos-gateway</c> with the journal connection string in its environment (never in argv).</summary>
    public static GatewayProcess Start(string root, string name, int clusterPort, string journal, IEnumerable<string> extraArgs)
    {
        var dataDir = Path.Combine(root, name, "data");
        Directory.CreateDirectory(Path.GetDirectoryName(dataDir)!);
        var (gateway, userApi, health) = (TestGateway.FreePort(), TestGateway.FreePort(), TestGateway.FreePort());
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "kruxos-gateway.dll"), "--cluster", "--cluster-host", "127.0.0.1",
            "--cluster-port", $"{clusterPort}", "--journal-provider", "postgresql", "--data-dir", dataDir,
            "--gateway-port", $"{gateway}", "--user-api-port", $"{userApi}", "--health-port", $"{health}", "--dashboard-port", "0",
            "--control-socket", Path.Combine(dataDir, "run", "control.sock"), "--auth-socket", Path.Combine(dataDir, "run", "auth.sock"),
            "--KruxOS:Sandbox:CgroupName", "kruxos-test-" + Guid.NewGuid().ToString("N")[..8], .. extraArgs])
            psi.ArgumentList.Add(a);
        psi.Environment["KRUXOS_JOURNAL_CONNECTION"] = journal;
        psi.Environment["Logging__LogLevel__Default"] = "Warning";
        psi.Environment.Remove("KRUXOS_DATA_DIR");
        psi.Environment.Remove("KRUXOS_CONFIG_FILE");
        var log = new StreamWriter(Path.Combine(root, name + ".log"), append: true) { AutoFlush = true };
        var process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start");
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine("ERR " + e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new GatewayProcess(process, log, name, dataDir, gateway, health, clusterPort);
    }

    /// <summary>SIGKILL: no shutdown hook runs, no lease is released, the node just vanishes.</summary>
    public void KillHard()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: false);
    }

    /// <summary>Waits for the process to exit, at most <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>The process's console so far.</summary>
    public string Log()
    {
        lock (_log) _log.Flush();
        try
        {
            using var s = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(s).ReadToEnd();
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>One control-socket request (what <c>kruxos</c> sends), answered within 60 s.</summary>
    public async Task<ControlResponse> ControlAsync(string method, JsonObject? parameters = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        await socket.ConnectAsync(new UnixDomainSocketEndPoint(ControlSocket), cts.Token);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        var line = Encoding.UTF8.GetBytes(ControlProtocol.Request(1, method, parameters) + "\n");
        await stream.WriteAsync(line, cts.Token);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var answer = await reader.ReadLineAsync(cts.Token) ?? throw new IOException("the control socket closed without an answer");
        return ControlResponse.Parse(answer);
    }

    /// <summary>GET on the health port: status code and body.</summary>
    public async Task<(int Status, JsonNode? Body)> HealthAsync(HttpClient http, string path = "/health")
    {
        using var r = await http.GetAsync($"http://127.0.0.1:{HealthPort}{path}");
        var text = await r.Content.ReadAsStringAsync();
        return ((int)r.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            // SIGTERM first (coordinated shutdown), then SIGKILL if it lingers.
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])) await term.WaitForExitAsync();
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(20))) KillHard();
            await WaitForExitAsync(TimeSpan.FromSeconds(10));
        }
        _process.Dispose();
        lock (_log) _log.Dispose();
    }
}
