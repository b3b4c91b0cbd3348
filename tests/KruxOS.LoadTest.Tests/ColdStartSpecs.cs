using System.Net;
using System.Net.Sockets;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Load;
using KruxOS.LoadTest.Scenarios;
using KruxOS.LoadTest.Stats;
using KruxOS.LoadTest.Targets;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class ColdStartSpecs
{
    [Fact]
    public async Task Should_exclude_the_warm_up_run_and_record_each_runs_own_latency_when_running_sequentially()
    {
        // arrange: run 0 (warm-up) fails; every later run reports 7 ms of its own, whatever the wall time was
        var runs = new List<long>();
        Task<TimedOutcome> Op(long run, CancellationToken ct)
        {
            runs.Add(run);
            return Task.FromResult(run == 0
                ? new TimedOutcome(CallOutcome.Transport("warm-up"), TimeSpan.FromMilliseconds(1))
                : new TimedOutcome(CallOutcome.Ok, TimeSpan.FromMilliseconds(7)));
        }
        // act: no warm-up time and a long deadline: one warm-up run, then exactly N = 4 measured runs
        var result = await SequentialRunner.RunAsync(TimeSpan.Zero, TimeSpan.FromMinutes(5), 4, Op, TestContext.Current.CancellationToken);
        // assert
        Assert.Equal([0, 1, 2, 3, 4], runs);
        Assert.Equal(4, result.Successes);
        Assert.Equal(0, result.Failures);
        Assert.Empty(result.Errors);
        Assert.Equal(4, result.Latency.Count);
        Assert.InRange(result.Latency.P50Us, 6_990, 7_010);
        Assert.InRange(result.Latency.MaxUs, 6_990, 7_010);
        Assert.Contains("1 warm-up run(s) excluded", result.Notes);
    }

    [Fact]
    public async Task Should_make_one_measured_run_and_tally_its_failure_when_the_deadline_has_already_passed()
    {
        // arrange: a zero-length measured phase still makes one run, so a slow machine never reports nothing
        var calls = 0;
        Task<TimedOutcome> Op(long run, CancellationToken ct)
        {
            calls++;
            if (run == 1) throw new IOException("pipe closed");
            return Task.FromResult(new TimedOutcome(CallOutcome.Ok, TimeSpan.FromMilliseconds(1)));
        }
        // act
        var result = await SequentialRunner.RunAsync(TimeSpan.Zero, TimeSpan.Zero, 100, Op, TestContext.Current.CancellationToken);
        // assert
        Assert.Equal(2, calls);
        Assert.Equal(0, result.Successes);
        Assert.Equal(1, result.Failures);
        Assert.Equal(1, result.Errors["transport_error[IOException]"]);
    }

    [Fact]
    public void Should_skip_notifications_and_judge_request_1_when_reading_the_bridges_stdout()
    {
        // assert
        Assert.Null(ColdStartScenario.JudgeInitializeAnswer("""{"jsonrpc":"2.0","method":"notifications/message","params":{}}"""));
        Assert.Null(ColdStartScenario.JudgeInitializeAnswer("""{"jsonrpc":"2.0","id":2,"result":{"protocolVersion":"2025-06-18"}}"""));
        Assert.Equal(CallOutcome.Ok, ColdStartScenario.JudgeInitializeAnswer("""{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{}}}"""));
        Assert.Equal(new CallOutcome(OutcomeKind.JsonRpcError, "-32001"),
            ColdStartScenario.JudgeInitializeAnswer("""{"jsonrpc":"2.0","id":1,"error":{"code":-32001,"message":"unauthorized"}}"""));
        Assert.Equal(OutcomeKind.TransportError, ColdStartScenario.JudgeInitializeAnswer("not json")!.Value.Kind);
    }

    [Theory]
    [InlineData("""{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"allow","permissionDecisionReason":"ok"}}""", OutcomeKind.Ok)]
    [InlineData("""{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no"}}""", OutcomeKind.ToolError)]
    [InlineData("""{"decision":"allow"}""", OutcomeKind.ToolError)]
    [InlineData("allow", OutcomeKind.TransportError)]
    public void Should_count_only_an_allow_as_success_when_reading_the_hooks_answer(string line, OutcomeKind expected) =>
        Assert.Equal(expected, ColdStartScenario.JudgeHookAnswer(line)!.Value.Kind);

    [Fact]
    public async Task Should_time_the_bare_start_when_running_a_programs_help()
    {
        // arrange: the real mcp-bridge from this build's output
        var command = ColdStartScenario.HelpCommand(ColdStartPrograms.BridgeDll(), "mcp-bridge");
        // act
        var run = await ColdProcess.RunAsync(command, TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        // assert
        Assert.Equal(CallOutcome.Ok, run.Outcome);
        Assert.True(run.Elapsed > TimeSpan.Zero);
    }

    [Fact]
    public async Task Should_count_a_failure_when_the_program_exits_non_zero()
    {
        // arrange: a token-shaped argument makes cli-hook refuse to run (exit 2) before it answers
        var command = ColdStartScenario.HelpCommand(ColdStartPrograms.HookDll(), "cli-hook") with { Args = ["--help", new string('a', 64)] };
        // act
        var run = await ColdProcess.RunAsync(command, TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        // assert
        Assert.Equal(new CallOutcome(OutcomeKind.TransportError, "exit 2"), run.Outcome);
    }

    [Fact]
    public async Task Should_kill_the_program_and_count_a_timeout_when_no_answer_comes_in_time()
    {
        // arrange: a loopback listener that accepts and never answers the WebSocket upgrade (the bridge waits 15 s for it)
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var command = ColdStartScenario.HelpCommand(ColdStartPrograms.BridgeDll(), "mcp-bridge") with
        {
            Args = [],
            Environment = new Dictionary<string, string> { ["KRUXOS_ENDPOINT"] = $"ws://127.0.0.1:{port}", ["KRUXOS_AGENT_NAME"] = "a", ["KRUXOS_AGENT_TOKEN"] = new string('b', 64) },
            CloseStdinAfterWrite = false,
            Stop = AnswerPoint.AnswerLine,
            Stdin = """{"jsonrpc":"2.0","id":1,"method":"ping"}"""u8.ToArray(),
            Judge = _ => null,
        };
        // act
        var run = await ColdProcess.RunAsync(command, TimeSpan.FromSeconds(2), TestContext.Current.CancellationToken);
        // assert
        Assert.Equal(OutcomeKind.Timeout, run.Outcome.Kind);
    }
}
