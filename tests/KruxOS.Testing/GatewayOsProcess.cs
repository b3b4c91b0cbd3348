using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;

namespace KruxOS.Testing;

/// <summary>
/// The built gateway (<c>kruxos-gateway.dll</c>, copied next to the test assembly) as its own operating-system process on
/// loopback ports chosen at run time, so a spec can <c>kill -9</c> it as an operator's machine would lose it and start it
/// again on the same data directory and ports, as systemd would. A single node keeps its SQLite journal in its data
/// directory; a cluster node gets the shared journal's connection string through its environment (never argv). Its console
/// is kept in memory; every wait is bounded.
/// </summary>
public sealed class GatewayOsProcess : IAsyncDisposable
{
    private readonly string[] _args;
    private readonly IReadOnlyDictionary<string, string> _environment;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private GatewayOsProcess(string name, string dataDir, Ports ports, int clusterPort, string[] args, IReadOnlyDictionary<string, string> environment)
    {
        Name = name;
        DataDir = dataDir;
        GatewayPort = ports.Gateway;
        HealthPort = ports.Health;
        UserApiPort = ports.UserApi;
        ClusterPort = clusterPort;
        _args = args;
        _environment = environment;
    }

    /// <summary>The name the spec gave the node (log tails say which node spoke).</summary>
    public string Name { get; }

    public string DataDir { get; }

    public int GatewayPort { get; }

    public int HealthPort { get; }

    public int UserApiPort { get; }

    /// <summary>The remoting port of a cluster node; 0 for a single node.</summary>
    public int ClusterPort { get; }

    public string ClusterAddress => $"akka.tcp://kruxos@127.0.0.1:{ClusterPort}";

    public string ControlSocket => Path.Combine(DataDir, "run", "control.sock");

    public bool HasExited => _process is null || _process.HasExited;

    public int ExitCode => _process?.ExitCode ?? throw new InvalidOperationException("the gateway was never started");

    /// <summary>
    /// Starts a single node on <paramref name="dataDir"/> and waits until it is ready (its control socket answers and
    /// <c>/health/ready</c> says so, or only the sandbox's host packages are missing). A start that loses a port race is
    /// tried again on other ports.
    /// </summary>
    public static async Task<GatewayOsProcess> StartAsync(
        string dataDir, IReadOnlyDictionary<string, string>? environment = null, IEnumerable<string>? extraArgs = null, string name = "gateway")
    {
        ArgumentException.ThrowIfNullOrEmpty(dataDir);
        for (var attempt = 1; ; attempt++)
        {
            var ports = Ports.Free();
            var gateway = new GatewayOsProcess(name, dataDir, ports, 0, Arguments(dataDir, ports, [.. extraArgs ?? []]), environment ?? new Dictionary<string, string>());
            gateway.Launch();
            try
            {
                if (await gateway.WaitReadyAsync()) return gateway;
            }
            catch
            {
                await gateway.DisposeAsync();
                throw;
            }
            var exited = gateway.Log();
            await gateway.DisposeAsync();
            if (attempt >= 3) throw new InvalidOperationException($"the gateway exited before it was ready:\n{Tail(exited)}");
        }
    }

    /// <summary>
    /// Starts one node of a cluster on a shared PostgreSQL journal (its data directory <c>root/name/data</c>) without waiting:
    /// a spec waits for the membership it expects, or for the node to refuse to start.
    /// </summary>
    public static GatewayOsProcess StartClusterNode(string root, string name, int clusterPort, string journal, IEnumerable<string> extraArgs)
    {
        ArgumentException.ThrowIfNullOrEmpty(root);
        ArgumentException.ThrowIfNullOrEmpty(journal);
        var dataDir = Path.Combine(root, name, "data");
        Directory.CreateDirectory(Path.GetDirectoryName(dataDir)!);
        var ports = Ports.Free();
        string[] cluster = ["--cluster", "--cluster-host", "127.0.0.1", "--cluster-port", $"{clusterPort}", "--journal-provider", "postgresql"];
        var environment = new Dictionary<string, string>
        {
            ["KRUXOS_JOURNAL_CONNECTION"] = journal,
            ["Logging__LogLevel__Default"] = "Warning",
        };
        var node = new GatewayOsProcess(name, dataDir, ports, clusterPort, Arguments(dataDir, ports, [.. cluster, .. extraArgs]), environment);
        node.Launch();
        return node;
    }

    /// <summary>Starts the process again (after a kill) with the same settings and ports, and waits until it is ready.</summary>
    public async Task StartAgainAsync()
    {
        if (!HasExited) throw new InvalidOperationException("the gateway is still running");
        _process?.Dispose();
        Launch();
        if (!await WaitReadyAsync()) throw new InvalidOperationException($"the gateway exited ({ExitCode}) after a restart:\n{Tail(Log())}");
    }

    /// <summary>
    /// SIGKILL, as a crash or an operator's <c>kill -9</c>: no shutdown hook runs, no lease is released. With
    /// <paramref name="processTree"/> its sandbox workers go too (otherwise they notice their parent is gone).
    /// </summary>
    public void KillHard(bool processTree = false)
    {
        if (_process is null) return;
        if (!_process.HasExited) _process.Kill(entireProcessTree: processTree);
        _process.WaitForExit(TimeSpan.FromSeconds(30)); // bounded: a straggler holding the output pipes must not hang the spec
    }

    /// <summary>Stops the gateway as a service manager does (SIGTERM) and returns its exit code once it has ended.</summary>
    public async Task<int> TerminateAsync()
    {
        if (_process is null) throw new InvalidOperationException("the gateway was never started");
        if (!_process.HasExited)
        {
            var kill = await ProcessRunner.RunAsync("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)]);
            if (kill.ExitCode != 0 && !_process.HasExited) throw new InvalidOperationException("kill -TERM failed: " + kill.StdErr);
        }
        using var deadline = new CancellationTokenSource(TestTimeouts.Process);
        await _process.WaitForExitAsync(deadline.Token);
        return _process.ExitCode;
    }

    /// <summary>Waits for the process to exit, at most <paramref name="timeout"/>.</summary>
    public async Task<bool> WaitForExitAsync(TimeSpan timeout)
    {
        if (_process is null) return true;
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

    /// <summary>Everything the process printed so far, over every start (standard error lines marked <c>ERR</c>).</summary>
    public string Log()
    {
        lock (_log) return _log.ToString();
    }

    /// <summary>The last 4,000 characters of a console, for failure messages.</summary>
    public static string Tail(string log)
    {
        ArgumentNullException.ThrowIfNull(log);
        return log.Length > 4000 ? log[^4000..] : log;
    }

    /// <summary>One control-socket request (what <c>kruxos</c> sends), answered within the process timeout.</summary>
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

    /// <summary>GET on the health port: status code and body.</summary>
    public async Task<(int Status, JsonNode? Body)> HealthAsync(HttpClient http, string path = "/health")
    {
        ArgumentNullException.ThrowIfNull(http);
        using var r = await http.GetAsync($"http://127.0.0.1:{HealthPort}{path}");
        var text = await r.Content.ReadAsStringAsync();
        return ((int)r.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    /// <summary>How many cluster members this node's <c>/health</c> reports Up and reachable (0 while it does not answer).</summary>
    public async Task<int> ClusterMembersUpAsync(HttpClient http)
    {
        try
        {
            var (_, body) = await HealthAsync(http);
            return body?["cluster"]?["members"]?.AsArray().Count(m => m!["status"]!.GetValue<string>() == "up" && m["reachable"]!.GetValue<bool>()) ?? 0;
        }
        catch (HttpRequestException)
        {
            return 0;
        }
    }

    /// <summary>
    /// Polls <paramref name="condition"/> until it holds. Fails at once, with the console's tail, if this process exits
    /// meanwhile; after <paramref name="bound"/> (120 s unless given) it throws, or returns false when
    /// <paramref name="throwOnTimeout"/> is off.
    /// </summary>
    public async Task<bool> UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? bound = null, bool throwOnTimeout = true)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = bound ?? TimeSpan.FromSeconds(120);
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (HasExited) throw new InvalidOperationException($"{Name} exited ({ExitCode}) waiting for: {what}\n{Tail(Log())}");
            if (DateTime.UtcNow > deadline)
            {
                if (!throwOnTimeout) return false;
                throw new TimeoutException($"{Name}: {what} not reached within {limit.TotalSeconds.ToString("0", CultureInfo.InvariantCulture)} s");
            }
            await Task.Delay(250);
        }
        return true;
    }

    /// <summary>SIGTERM (coordinated shutdown), then SIGKILL of the whole tree if it lingers.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_process is { HasExited: false })
        {
            using (var term = Process.Start("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)])) await term.WaitForExitAsync();
            if (!await WaitForExitAsync(TimeSpan.FromSeconds(20))) KillHard(processTree: true);
        }
        _process?.Dispose();
    }

    private static string[] Arguments(string dataDir, Ports ports, string[] extra) =>
    [
        Path.Combine(AppContext.BaseDirectory, "kruxos-gateway.dll"), "--data-dir", dataDir,
        "--gateway-port", $"{ports.Gateway}", "--user-api-port", $"{ports.UserApi}", "--health-port", $"{ports.Health}", "--dashboard-port", "0",
        "--control-socket", Path.Combine(dataDir, "run", "control.sock"), "--auth-socket", Path.Combine(dataDir, "run", "auth.sock"),
        "--KruxOS:Sandbox:CgroupName", "kruxos-test-" + Guid.NewGuid().ToString("N")[..8], "--Gateway:PrintBootstrapToken", "false",
        .. extra,
    ];

    private void Launch()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in _args) psi.ArgumentList.Add(a);
        ProcessRunner.ScrubEnvironment(psi);
        foreach (var (k, v) in _environment) psi.Environment[k] = v;
        var process = Process.Start(psi) ?? throw new InvalidOperationException("dotnet did not start");
        process.OutputDataReceived += (_, e) => Append(e.Data, "");
        process.ErrorDataReceived += (_, e) => Append(e.Data, "ERR ");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
    }

    private void Append(string? line, string prefix)
    {
        if (line is null) return;
        lock (_log) _log.Append(prefix).AppendLine(line);
    }

    // True when ready; false when the process exited first (for a first start: a port was taken, try again).
    private async Task<bool> WaitReadyAsync()
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TestTimeouts.Process)
        {
            if (HasExited) return false;
            try
            {
                using var r = await http.GetAsync($"http://127.0.0.1:{HealthPort}/health/ready");
                using var health = await http.GetAsync($"http://127.0.0.1:{HealthPort}/health");
                var ready = r.IsSuccessStatusCode || SystemPackages.OnlySandboxPackagesMissing(await health.Content.ReadAsStringAsync());
                if (ready && (await ControlAsync(ControlProtocol.Methods.Status)).Ok) return true;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException or SocketException or IOException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"the gateway did not become ready:\n{Tail(Log())}");
    }

    private sealed record Ports(int Gateway, int UserApi, int Health)
    {
        public static Ports Free() => new(TestGateway.FreePort(), TestGateway.FreePort(), TestGateway.FreePort());
    }
}
