using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest.Scenarios;

/// <summary>The program a <see cref="ColdStartScenario"/> starts.</summary>
public enum ColdProgram
{
    /// <summary><c>mcp-bridge</c> in agent mode: spawn → the <c>initialize</c> answer on stdout.</summary>
    Bridge,

    /// <summary><c>cli-hook</c> with a recorded Claude Code <c>Read</c> event: spawn → the allow decision on stdout.</summary>
    CliHook,
}

/// <summary>
/// <c>cold-start-bridge</c> and <c>cold-start-hook</c>: sequential cold starts of a client-side program,
/// one fresh process per run, timed from the spawn to its answer on stdout. Against the gateway the program
/// does its real work; against the floor it runs <c>--help</c> (the bare process start, no network), so the
/// gateway/floor ratios read program/<c>--help</c>. Runs are bounded by <c>--max-requests</c> (N) and
/// <c>--duration</c> (<c>--smoke</c>: at most <see cref="SmokeRuns"/>); runs during <c>--warmup</c> (at least one) are
/// excluded; <c>--call-timeout</c> bounds each run.
/// </summary>
public sealed class ColdStartScenario(ColdProgram program) : IScenario
{
    /// <summary>The label of the user token the hook runs with.</summary>
    public const string UserTokenLabel = "loadtest-cold-start";

    /// <summary>Measured runs per target in <c>--smoke</c> mode.</summary>
    public const int SmokeRuns = 3;

    private static readonly TimeSpan SetupTimeout = TimeSpan.FromSeconds(60);

    /// <summary>The program this scenario starts.</summary>
    public ColdProgram Program { get; } = program;

    /// <inheritdoc />
    public string Name => Program == ColdProgram.Bridge ? "cold-start-bridge" : "cold-start-hook";

    /// <inheritdoc />
    /// <remarks>On the floor the program only prints its help: the bare process start the ratio divides by.</remarks>
    public bool RunsOnFloor => true;

    /// <inheritdoc />
    public string Description => Program == ColdProgram.Bridge
        ? "sequential: spawn mcp-bridge (agent mode) → initialize answer on stdout (gateway) / mcp-bridge --help (floor)"
        : "sequential: spawn cli-hook with a Claude Code Read event → allow on stdout (gateway) / cli-hook --help (floor)";

    /// <inheritdoc />
    public bool Comparable => true;

    /// <inheritdoc />
    public int SessionsNeeded(DriverOptions options) => 1;

    /// <inheritdoc />
    public async Task<ScenarioResult> RunAsync(ScenarioContext context, CancellationToken ct)
    {
        var o = context.Options;
        var target = context.Target;
        var programName = Program == ColdProgram.Bridge ? "mcp-bridge" : "cli-hook";
        var dll = Program == ColdProgram.Bridge ? ColdStartPrograms.BridgeDll() : ColdStartPrograms.HookDll();
        ColdCommand command;
        string operation;
        if (target.Name == TargetServer.Gateway)
        {
            (command, operation) = Program == ColdProgram.Bridge
                ? (BridgeCommand(dll, target), "spawn mcp-bridge → initialize answer on stdout")
                : (await HookCommandAsync(dll, target, ct).ConfigureAwait(false), "spawn cli-hook (Claude Code Read) → allow on stdout");
        }
        else
        {
            (command, operation) = (HelpCommand(dll, programName), $"spawn {programName} --help → exit (process start only)");
        }

        // Smoke checks that the scenario works, not the figures: a tiny N.
        var maxRuns = o.Smoke ? Math.Min(o.MaxRequests, SmokeRuns) : o.MaxRequests;
        var run = await SequentialRunner.RunAsync(o.Warmup, o.Duration, maxRuns,
            (_, c) => ColdProcess.RunAsync(command, o.CallTimeout, c), ct).ConfigureAwait(false);
        return ScenarioResult.FromRun(Name, target.Name, "stdio", "sequential", operation, 1, run) with
        {
            Notes = [.. run.Notes, $"load average {LoadAverage()} at the end"],
        };
    }

    /// <summary>The JSON-RPC <c>initialize</c> request the bridge is given (one line).</summary>
    public const string InitializeLine =
        """{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"kruxos-loadtest","version":"1.0"}}}""";

    /// <summary>The bridge in agent mode against the gateway's WebSocket; the admin token goes in the environment.</summary>
    public static ColdCommand BridgeCommand(string dll, TargetServer target)
    {
        var token = target.Token ?? throw new InvalidOperationException("the gateway target has no agent token");
        return new ColdCommand(dll, [],
            new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["KRUXOS_ENDPOINT"] = target.WebSocketUri.ToString(),
                ["KRUXOS_AGENT_NAME"] = "admin",
                ["KRUXOS_AGENT_TOKEN"] = token,
            },
            Encoding.UTF8.GetBytes(InitializeLine + "\n"), CloseStdinAfterWrite: false, AnswerPoint.AnswerLine, JudgeInitializeAnswer);
    }

    /// <summary><c>--help</c>: the bare process start; it must exit 0 with its usage text (<c>&lt;program&gt;: …</c>) on stdout.</summary>
    public static ColdCommand HelpCommand(string dll, string programName) =>
        new(dll, ["--help"], new Dictionary<string, string>(StringComparer.Ordinal), [], CloseStdinAfterWrite: true, AnswerPoint.Exit,
            output => output.TrimStart().StartsWith(programName + ":", StringComparison.Ordinal)
                ? CallOutcome.Ok
                : new CallOutcome(OutcomeKind.TransportError, "no usage text"));

    /// <summary>The bridge's answer to request 1: ok for a result, the error code for an error; other lines (notifications) are skipped.</summary>
    public static CallOutcome? JudgeInitializeAnswer(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number || id.GetInt64() != 1)
                return null;
            if (root.TryGetProperty("result", out var result) && result.ValueKind == JsonValueKind.Object && result.TryGetProperty("protocolVersion", out _))
                return CallOutcome.Ok;
            return root.TryGetProperty("error", out var error) && error.TryGetProperty("code", out var code)
                ? new CallOutcome(OutcomeKind.JsonRpcError, code.ToString())
                : new CallOutcome(OutcomeKind.JsonRpcError, "malformed");
        }
        catch (JsonException)
        {
            return new CallOutcome(OutcomeKind.TransportError, "non-JSON line on stdout");
        }
    }

    /// <summary>The hook's first stdout line: ok for a Claude Code allow, a tool error for anything else.</summary>
    public static CallOutcome? JudgeHookAnswer(string line)
    {
        try
        {
            using var doc = JsonDocument.Parse(line);
            var decision = doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("hookSpecificOutput", out var output) && output.ValueKind == JsonValueKind.Object
                && output.TryGetProperty("permissionDecision", out var d) && d.ValueKind == JsonValueKind.String
                    ? d.GetString()
                    : null;
            return decision == "allow" ? CallOutcome.Ok : new CallOutcome(OutcomeKind.ToolError, decision ?? "malformed");
        }
        catch (JsonException)
        {
            return new CallOutcome(OutcomeKind.TransportError, "non-JSON line on stdout");
        }
    }

    private static async Task<ColdCommand> HookCommandAsync(string dll, TargetServer target, CancellationToken ct)
    {
        var controlSocket = target.ControlSocket ?? throw new InvalidOperationException("the cold-start hook scenario needs the gateway's control socket");
        var userApi = target.UserApiUri ?? throw new InvalidOperationException("the cold-start hook scenario needs the gateway's User API");
        var token = await CreateUserTokenAsync(ColdStartPrograms.CliDll(), controlSocket, ct).ConfigureAwait(false);
        var fixture = await File.ReadAllBytesAsync(ColdStartPrograms.ReadEventFixture(), ct).ConfigureAwait(false);
        return new ColdCommand(dll, ["--cli", "claude-code", "--gateway", userApi.ToString().TrimEnd('/')],
            new Dictionary<string, string>(StringComparer.Ordinal) { ["KRUXOS_USER_TOKEN"] = token },
            fixture, CloseStdinAfterWrite: true, AnswerPoint.AnswerLine, JudgeHookAnswer);
    }

    /// <summary>Creates a user token with <c>kruxos user-token create … --json</c> over the control socket; the token is never printed.</summary>
    private static async Task<string> CreateUserTokenAsync(string cliDll, string controlSocket, CancellationToken ct)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(SetupTimeout);
        // The socket appears once the control server has started, which may be just after /health answers.
        while (!File.Exists(controlSocket)) await Task.Delay(100, bounded.Token).ConfigureAwait(false);

        var command = new ColdCommand(cliDll, ["user-token", "create", UserTokenLabel, "--json"],
            new Dictionary<string, string>(StringComparer.Ordinal) { ["KRUXOS_CONTROL_SOCKET"] = controlSocket },
            [], CloseStdinAfterWrite: true, AnswerPoint.Exit, _ => CallOutcome.Ok);
        string? token = null;
        var created = await ColdProcess.RunAsync(command with
        {
            Judge = output =>
            {
                token = ReadToken(output);
                return token is null ? new CallOutcome(OutcomeKind.TransportError, "no token in the CLI's answer") : CallOutcome.Ok;
            },
        }, SetupTimeout, bounded.Token).ConfigureAwait(false);
        return created.Outcome.IsOk && token is not null
            ? token
            : throw new InvalidOperationException($"kruxos user-token create failed: {created.Outcome.Key}");
    }

    private static string? ReadToken(string output)
    {
        try
        {
            using var doc = JsonDocument.Parse(output);
            return doc.RootElement.ValueKind == JsonValueKind.Object
                && doc.RootElement.TryGetProperty("token", out var t) && t.ValueKind == JsonValueKind.String
                && t.GetString() is { } s && s.StartsWith("krx_user_", StringComparison.Ordinal)
                    ? s
                    : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return "unknown";
        }
    }
}
