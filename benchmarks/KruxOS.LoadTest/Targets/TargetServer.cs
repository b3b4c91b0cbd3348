using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using KruxOS.LoadTest.Cli;

namespace KruxOS.LoadTest.Targets;

/// <summary>
/// A server under test, started by the driver on runtime-chosen free loopback ports: the raw floor
/// (<c>noop</c>, no auth) or the gateway (<c>system__time</c>, with the first-start admin token, in a
/// temporary data directory that the child process owns and deletes when it is stopped).
/// </summary>
public sealed partial class TargetServer : IAsyncDisposable
{
    /// <summary>The floor's name in reports.</summary>
    public const string Floor = "floor";

    /// <summary>The gateway's name in reports.</summary>
    public const string Gateway = "gateway";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly ChildProcess _process;

    /// <summary>The agent the <c>approval-roundtrip</c> scenario creates; its policy file is written before the gateway starts.</summary>
    public const string ApprovalAgent = "loadtest-approvals";

    // The approval scenario's agent gets its own policy: every system.time call needs a human decision.
    // Other scenarios use the admin agent, whose policy this does not touch.
    private const string ApprovalAgentPolicy = """
        rules:
          - capability: system.time
            tier: approval_required
            reason: approval round-trip load scenario
        """;

    private TargetServer(string name, ChildProcess process, string host, int port, string? token, string toolName, string toolArguments,
        string? controlSocket = null, Uri? userApi = null)
    {
        Name = name;
        ControlSocket = controlSocket;
        UserApiUri = userApi;
        _process = process;
        Token = token;
        ToolName = toolName;
        ToolArguments = toolArguments;
        var h = host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;
        WebSocketUri = LoopbackGuard.Require(new Uri($"ws://{h}:{port.ToString(CultureInfo.InvariantCulture)}/mcp"));
        HttpUri = LoopbackGuard.Require(new Uri($"http://{h}:{port.ToString(CultureInfo.InvariantCulture)}/mcp"));
    }

    /// <summary><see cref="Floor"/> or <see cref="Gateway"/>.</summary>
    public string Name { get; }

    /// <summary>The MCP WebSocket endpoint.</summary>
    public Uri WebSocketUri { get; }

    /// <summary>The MCP Streamable HTTP endpoint.</summary>
    public Uri HttpUri { get; }

    /// <summary>The bearer token (gateway) or null (floor).</summary>
    public string? Token { get; }

    /// <summary>The gateway's control socket (null for the floor).</summary>
    public string? ControlSocket { get; }

    /// <summary>The gateway's loopback User API (<c>http://127.0.0.1:port</c>); null for the floor.</summary>
    public Uri? UserApiUri { get; }

    /// <summary>The in-process tool the call scenarios use.</summary>
    public string ToolName { get; }

    /// <summary>Its arguments as raw JSON.</summary>
    public string ToolArguments { get; }

    /// <summary>The server's process id (for RSS).</summary>
    public int Pid => _process.Pid;

    /// <summary>The server's last output lines (tokens redacted).</summary>
    public IReadOnlyList<string> OutputTail => _process.Tail;

    /// <summary>Starts the raw floor and waits until it answers on <c>/health</c>.</summary>
    public static async Task<TargetServer> StartFloorAsync(string dll, string host, CancellationToken ct)
    {
        var port = FreePorts.Take(1)[0];
        var process = ChildProcess.Start(Floor, dll, ["--port", port.ToString(CultureInfo.InvariantCulture)]);
        var server = new TargetServer(Floor, process, host, port, null, "noop", "{}");
        try
        {
            await WaitHealthyAsync(process, new Uri($"http://{HostForUri(host)}:{port}/health"), ct).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Starts the gateway on an empty temporary data directory, reads the admin token it prints on first
    /// start, and waits until <c>/health</c> answers. <paramref name="maxConnectionsPerAgent"/> lifts the
    /// per-agent session cap, because every driver session uses the one admin agent.
    /// </summary>
    public static async Task<TargetServer> StartGatewayAsync(string dll, string host, int maxConnectionsPerAgent, CancellationToken ct)
    {
        var ports = FreePorts.Take(3);
        var dataDir = Directory.CreateTempSubdirectory("kruxos-loadtest-").FullName;
        var bind = IPAddress.TryParse(host, out _) ? host : "127.0.0.1";
        try
        {
            var policy = Path.Combine(dataDir, "policies", "agents", $"{ApprovalAgent}.yaml");
            Directory.CreateDirectory(Path.GetDirectoryName(policy)!);
            await File.WriteAllTextAsync(policy, ApprovalAgentPolicy, ct).ConfigureAwait(false);
            // The network scenario's loopback server: the admin agent may reach exactly its address and port.
            await File.WriteAllTextAsync(Path.Combine(dataDir, "policies", "agents", "admin.yaml"), Scenarios.NetworkRequestScenario.AdminPolicy, ct).ConfigureAwait(false);
        }
        catch
        {
            Directory.Delete(dataDir, recursive: true);
            throw;
        }
        var controlSocket = Path.Combine(dataDir, "run", "control.sock");
        var process = ChildProcess.Start(Gateway, dll,
        [
            "--data-dir", dataDir,
            "--control-socket", controlSocket,
            "--gateway-port", ports[0].ToString(CultureInfo.InvariantCulture),
            "--health-port", ports[1].ToString(CultureInfo.InvariantCulture),
            "--user-api-port", ports[2].ToString(CultureInfo.InvariantCulture),
            "--dashboard-port", "0",
            "--bind", bind,
            $"--KruxOS:MaxConnectionsPerAgent={maxConnectionsPerAgent.ToString(CultureInfo.InvariantCulture)}",
            // The driver reads the first-start token from the gateway's (redirected, private) output.
            "--Gateway:BootstrapTokenOutput=Stdout",
        ], ownedDirectory: dataDir);
        TargetServer? server = null;
        try
        {
            var tokenLine = process.WatchFor(TokenLine());
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(StartTimeout);
            var match = await tokenLine.WaitAsync(timeout.Token).ConfigureAwait(false);
            // The User API listens on 127.0.0.1 whatever the MCP bind is.
            var userApi = LoopbackGuard.Require(new Uri($"http://127.0.0.1:{ports[2].ToString(CultureInfo.InvariantCulture)}"));
            server = new TargetServer(Gateway, process, host, ports[0], match.Groups[1].Value, "system__time", "{}", controlSocket, userApi);
            // Health listens on 127.0.0.1 whatever the MCP bind is.
            await WaitHealthyAsync(process, new Uri($"http://127.0.0.1:{ports[1]}/health"), ct).ConfigureAwait(false);
            return server;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            var tail = string.Join(Environment.NewLine, process.Tail.TakeLast(30));
            if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
            else await process.DisposeAsync().ConfigureAwait(false);
            throw new InvalidOperationException($"the gateway did not print its first-start token within {StartTimeout.TotalSeconds:0} s; last output:{Environment.NewLine}{tail}");
        }
        catch
        {
            if (server is not null) await server.DisposeAsync().ConfigureAwait(false);
            else await process.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    [GeneratedRegex(@"Token \(shown once; it is stored only as a hash\): ([0-9a-f]{64})")]
    private static partial Regex TokenLine();

    private static string HostForUri(string host) => host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host;

    private static async Task WaitHealthyAsync(ChildProcess process, Uri health, CancellationToken ct)
    {
        LoopbackGuard.Require(health);
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = Stopwatch.GetTimestamp() + (long)(StartTimeout.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            ct.ThrowIfCancellationRequested();
            if (process.HasExited)
                throw new InvalidOperationException($"{process.Name} exited during start-up; last output:{Environment.NewLine}{string.Join(Environment.NewLine, process.Tail.TakeLast(30))}");
            try
            {
                using var response = await http.GetAsync(health, ct).ConfigureAwait(false);
                if (response.IsSuccessStatusCode) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested) { }
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
        throw new InvalidOperationException($"{process.Name} was not healthy within {StartTimeout.TotalSeconds:0} s; last output:{Environment.NewLine}{string.Join(Environment.NewLine, process.Tail.TakeLast(30))}");
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => _process.DisposeAsync(); // also deletes the gateway's data directory
}
