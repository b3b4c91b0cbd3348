using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Cli;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using ModelContextProtocol.Protocol;
using Xunit;

namespace KruxOS.Gateway.Tests.Policy;

/// <summary>
/// Adversarial: a policy file nested 200,000 levels deep (400 KB of brackets). The YAML parser's recursion overflowed
/// the stack, which no handler can catch: <c>kruxos config validate</c> aborted, a running gateway died on hot reload,
/// and with the file still in place it died again at every start. Now each is a clear <c>limit_exceeded</c> error.
/// </summary>
public sealed class PolicyLimitSpecs
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly string TimeTool = ToolNames.ToMcp(CapabilityName.Parse("system.time"));
    private static readonly string InfoTool = ToolNames.ToMcp(CapabilityName.Parse("system.info"));
    private const string BlockTime = "rules:\n  - capability: system.time\n    tier: blocked\n    reason: no clocks\n";

    private static string DeepPolicy() => "rules:\n  - capability: " + new string('[', 200_000) + new string(']', 200_000) + "\n    tier: blocked\n";

    [Fact]
    public async Task Should_report_a_200000_level_policy_as_invalid_from_the_real_cli_instead_of_aborting()
    {
        // arrange
        var dir = Directory.CreateTempSubdirectory("kruxos-deep-policy-").FullName;
        try
        {
            var path = Path.Combine(dir, "org.yaml");
            await File.WriteAllTextAsync(path, DeepPolicy(), TestContext.Current.CancellationToken);

            // act: the real CLI process, as an operator runs it
            var text = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "config", "validate", path]);
            var json = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "config", "validate", path, "--json"]);

            // assert: "invalid" (exit 1) with the limit and its place, not a crash (SIGABRT, 134)
            Assert.True(text.ExitCode == CliApp.Refused, $"exit {text.ExitCode}: {text.StdOut}{text.StdErr}");
            Assert.Contains("limit_exceeded", text.StdOut);
            Assert.Contains("nested deeper than 64 levels", text.StdOut);
            Assert.DoesNotContain("Stack overflow", text.StdErr);
            Assert.Equal(CliApp.Refused, json.ExitCode);
            var report = JsonNode.Parse(json.StdOut)!;
            Assert.False(report["valid"]!.GetValue<bool>());
            Assert.Equal("limit_exceeded", report["errors"]![0]!["code"]!.GetValue<string>());
            Assert.Equal(2, report["errors"]![0]!["line"]!.GetValue<int>());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Should_keep_the_running_gateway_up_and_deciding_with_the_previous_policy_when_a_deep_file_is_hot_reloaded()
    {
        // arrange: bot's own file blocks system.time
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string> { ["agents/bot.yaml"] = BlockTime });
        var token = await gateway.CreateAgentAsync("bot");
        await using var bot = await gateway.ConnectAsync(token);
        Assert.True((await bot.CallToolAsync(TimeTool, cancellationToken: TestContext.Current.CancellationToken)).IsError);
        var revision = gateway.Policies.Status.Revision;

        // act: the deep file lands in the policy directory of the running gateway
        gateway.WritePolicy("org.yaml", DeepPolicy());
        var deadline = DateTime.UtcNow + Wait;
        while (gateway.Policies.Status.Errors.IsEmpty && DateTime.UtcNow < deadline) await Task.Delay(100, TestContext.Current.CancellationToken);

        // assert: rejected with the limit and its place; the previous set stays in force and keeps deciding
        var error = Assert.Single(gateway.Policies.Status.Errors);
        Assert.Equal(("limit_exceeded", "org.yaml", 2), (error.Code, error.Location.File, error.Location.Line));
        Assert.Equal(revision, gateway.Policies.Status.Revision);
        var denied = await bot.CallToolAsync(TimeTool, cancellationToken: TestContext.Current.CancellationToken);
        Assert.True(denied.IsError);
        Assert.Contains("PolicyDenied", ((TextContentBlock)denied.Content[0]).Text);
        Assert.NotEqual(true, (await bot.CallToolAsync(InfoTool, cancellationToken: TestContext.Current.CancellationToken)).IsError);
        var (exit, shown, _) = await gateway.CliAsync("config", "show", "policy");
        Assert.Equal(0, exit);
        Assert.Contains("nested deeper than 64 levels", shown);
    }

    [Fact]
    public async Task Should_start_with_a_deep_policy_file_refusing_every_call_with_a_clear_error_and_exit_cleanly()
    {
        // arrange: the deep file is already there when the gateway process starts
        var dataDir = Directory.CreateTempSubdirectory("kruxos-deep-start-").FullName;
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "org.yaml"), DeepPolicy());
        try
        {
            // act
            await using var gateway = await GatewayOsProcess.StartAsync(dataDir);
            var control = new ControlClient(gateway.ControlSocket);
            var created = await control.CallAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = "bot", ["purpose"] = "tests" }, CancellationToken.None);
            Assert.True(created.Ok, created.ErrorMessage);
            // the first load runs in the background after start: wait for its outcome (or for the process to die)
            var shown = await control.CallAsync(ControlProtocol.Methods.PolicyShow, new JsonObject(), CancellationToken.None);
            var deadline = DateTime.UtcNow + Wait;
            while (shown.Ok && shown.Result!["errors"]!.AsArray().Count == 0 && !shown.Result["loaded"]!.GetValue<bool>() && DateTime.UtcNow < deadline)
            {
                Assert.False(gateway.HasExited, "the gateway process died: " + gateway.Log()[^Math.Min(2000, gateway.Log().Length)..]);
                await Task.Delay(100, TestContext.Current.CancellationToken);
                shown = await control.CallAsync(ControlProtocol.Methods.PolicyShow, new JsonObject(), CancellationToken.None);
            }
            using var http = new HttpClient { Timeout = TestTimeouts.Process };
            using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}/rpc")
            {
                Content = new StringContent("""{"jsonrpc":"2.0","id":1,"method":"capabilities.invoke","params":{"capability":"system.time","arguments":{}}}""",
                    Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", created.Result!["token"]!.GetValue<string>());
            using var response = await http.SendAsync(request, TestContext.Current.CancellationToken);
            var answer = JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
            var exitCode = await gateway.TerminateAsync();

            // assert: the process stayed up (ADR 0007: no set in force, every call refused, naming the error) ...
            Assert.True(shown.Ok, shown.ErrorMessage);
            Assert.False(shown.Result!["loaded"]!.GetValue<bool>());
            Assert.Equal("limit_exceeded", shown.Result["errors"]![0]!["code"]!.GetValue<string>());
            var refusal = answer["result"]!["error"]!;
            Assert.Equal("ServiceUnavailable", refusal["type"]!.GetValue<string>());
            Assert.Contains("nested deeper than 64 levels", refusal["message"]!.GetValue<string>());
            // ... logged the error, and stopped cleanly when told to: no crash, no dump
            Assert.Contains("limit_exceeded", gateway.Log());
            Assert.DoesNotContain("Stack overflow", gateway.Log());
            Assert.Equal(0, exitCode);
        }
        finally
        {
            try { Directory.Delete(dataDir, recursive: true); } catch (IOException) { }
        }
    }
}
