using System.Globalization;
using System.Text.Json.Nodes;
using KruxOS.Cli;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Comms;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using KruxOS.Testing.Fakes;
using Xunit;

namespace KruxOS.Gateway.Tests.Slack;

/// <summary>
/// Exactly once across SIGKILL, with the real gateway process (embedded SQLite journal), the fake Slack server on loopback
/// and Slack connected through <c>kruxos connect slack</c> (token on stdin). An agent sends over the agent port; the gateway
/// is killed inside the window; after a restart (vault unlocked with <c>kruxos vault unlock</c>, as an operator does) the
/// message reaches Slack once, not before <c>buffer_until</c>; a send cancelled before the kill never does. Then the gateway
/// is killed while Slack holds the answer to <c>chat.postMessage</c> (the message exists, the gateway never heard of it):
/// after the restart the attempt left open is looked up by its marker and found, and nothing is posted again — also not
/// after one more restart.
/// </summary>
public sealed class SlackKillSpecs
{
    private const string Passphrase = "slack kill spec passphrase";
    private const string Channel = "C0KILL";
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(20); // the first start's calls and the kill fit well inside it on a loaded machine
    private static readonly TimeSpan Backoff = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task A_write_survives_kill_9_in_its_window_and_during_its_attempt_and_reaches_Slack_exactly_once()
    {
        await using var slack = await FakeSlackServer.StartAsync();
        slack.AddUser("U0ALICE", "alice", "Alice Adams");
        slack.AddChannel(Channel, "kill");
        slack.Post(Channel, "U0ALICE", "before anything");
        var root = Directory.CreateTempSubdirectory("kruxos-slack-kill-").FullName;
        var dataDir = Path.Combine(root, "data");
        try
        {
            // ---- 1. first start: vault initialised from the environment, Slack connected, two sends, one cancelled, SIGKILL in the window
            string agent, kept, cancelled;
            DateTimeOffset keptUntil;
            await using (var first = await GatewayOsProcess.StartAsync(dataDir, Environment(slack, withPassphrase: true)))
            {
                Assert.Equal("unlocked", await VaultStateEventuallyAsync(first, "unlocked"));
                agent = await CreateAgentAsync(first, "kill-agent");
                var connect = await Cli(first, slack.Token + "\n", "connect", "slack", "--secret-stdin");
                Assert.True(connect.ExitCode == 0, connect.StdErr + connect.StdOut);

                var sent = await Rpc.OkAsync(first.GatewayPort, agent, "slack.send", new JsonObject { ["channel"] = Channel, ["text"] = "survives kill -9" });
                var mistaken = await Rpc.OkAsync(first.GatewayPort, agent, "slack.send", new JsonObject { ["channel"] = Channel, ["text"] = "cancelled before the kill" });
                kept = sent["write_id"]!.GetValue<string>();
                cancelled = mistaken["write_id"]!.GetValue<string>();
                keptUntil = DateTimeOffset.Parse(sent["buffer_until"]!.GetValue<string>(), CultureInfo.InvariantCulture);
                var cancel = await Rpc.OkAsync(first.GatewayPort, agent, "proxy.cancel_write", new JsonObject { ["write_id"] = cancelled });
                Assert.Equal("cancelled", cancel["status"]!.GetValue<string>());

                first.KillHard(processTree: true); // SIGKILL, no shutdown
                Assert.True(DateTimeOffset.UtcNow < keptUntil, "the gateway was not killed inside the window; lengthen the window");
            }
            Assert.Empty(slack.BotMessages());

            // ---- 2. restart without the passphrase: locked until the operator unlocks; the kept write is posted once, after its window
            await using (var second = await StartAndUnlockAsync(dataDir, slack))
            {
                await Until(() => Posted(slack, "survives kill -9").Count > 0, "the write buffered before the kill was not executed after the restart");
                var message = Assert.Single(Posted(slack, "survives kill -9"));
                Assert.True(message.PostedAt >= keptUntil, $"posted at {message.PostedAt:O}, before the window ended at {keptUntil:O}");
                // Slack has it before the gateway has read Slack's answer and recorded the write done
                await Until(async () => (await WriteAsync(second, kept))["status"]!.GetValue<string>() == "done", "the posted write was not recorded done");
                Assert.Equal("cancelled", (await WriteAsync(second, cancelled))["status"]!.GetValue<string>());
                Assert.Empty(Posted(slack, "cancelled before the kill"));

                // ---- 3. SIGKILL during the attempt: Slack has the message, the gateway never hears the answer
                var hold = slack.HoldNext("chat.postMessage");
                var during = await Rpc.OkAsync(second.GatewayPort, agent, "slack.send", new JsonObject { ["channel"] = Channel, ["text"] = "posted while the gateway dies" });
                await hold.Arrived.WaitAsync(Wait);
                Assert.Equal("executing", (await WriteAsync(second, during["write_id"]!.GetValue<string>()))["status"]!.GetValue<string>());
                second.KillHard(processTree: true);
                hold.Release();
                Assert.Single(Posted(slack, "posted while the gateway dies"));
                var posts = slack.Calls("chat.postMessage");
                var lookupsBefore = slack.Requests.Count(r => r.Method == "conversations.history");

                // ---- 4. restart: the open attempt is looked up by its marker, found, recorded done — and not posted again
                await using (var third = await StartAndUnlockAsync(dataDir, slack))
                {
                    var id = during["write_id"]!.GetValue<string>();
                    await Until(async () => (await WriteAsync(third, id))["status"]!.GetValue<string>() == "done", "the write whose attempt was cut off did not finish");
                    var found = Assert.Single(Posted(slack, "posted while the gateway dies"));
                    Assert.Equal($"{Channel}/{found.Ts}", (await WriteAsync(third, id))["provider_reference"]!.GetValue<string>());
                    Assert.Equal(posts, slack.Calls("chat.postMessage"));
                    Assert.True(slack.Requests.Count(r => r.Method == "conversations.history") > lookupsBefore, "the write was recorded done without a lookup");
                    third.KillHard(processTree: true);
                }
            }

            // ---- 5. one more restart: nothing is sent again, nothing cancelled appears
            var postsBefore = slack.Calls("chat.postMessage");
            await using (var fourth = await StartAndUnlockAsync(dataDir, slack))
            {
                Assert.Equal("done", (await WriteAsync(fourth, kept))["status"]!.GetValue<string>());
                await Task.Delay(Backoff + TimeSpan.FromSeconds(3)); // longer than a backoff step: a write woken again would be sent by now
                Assert.Equal(postsBefore, slack.Calls("chat.postMessage"));
                Assert.Single(Posted(slack, "survives kill -9"));
                Assert.Single(Posted(slack, "posted while the gateway dies"));
                Assert.Empty(Posted(slack, "cancelled before the kill"));
                Assert.Equal(2, slack.BotMessages().Count);
                Assert.DoesNotContain(slack.Token, fourth.Log(), StringComparison.Ordinal);
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static Dictionary<string, string> Environment(FakeSlackServer slack, bool withPassphrase)
    {
        var env = new Dictionary<string, string>
        {
            ["KRUXOS_SLACK_BASE_URL"] = slack.BaseUrl,
            ["KRUXOS_KruxOS__Slack__SendWindow"] = Window.ToString("c", CultureInfo.InvariantCulture),
            ["KRUXOS_KruxOS__Slack__SyncInterval"] = "01:00:00",
        };
        // a write that comes due while the vault is still locked fails its attempt and waits: steps long enough that the
        // operator's unlock comes well before the sixth attempt would dead-letter it
        for (var i = 0; i < 5; i++) env[$"KRUXOS_KruxOS__Proxy__Backoff__{i}"] = Backoff.ToString("c", CultureInfo.InvariantCulture);
        if (withPassphrase) env["KRUXOS_VAULT_PASSPHRASE"] = Passphrase;
        return env;
    }

    private static async Task<GatewayOsProcess> StartAndUnlockAsync(string dataDir, FakeSlackServer slack)
    {
        var gateway = await GatewayOsProcess.StartAsync(dataDir, Environment(slack, withPassphrase: false));
        try
        {
            Assert.Equal("locked", await VaultStateEventuallyAsync(gateway, "locked"));
            var unlock = await Cli(gateway, Passphrase + "\n", "vault", "unlock");
            Assert.True(unlock.ExitCode == 0, unlock.StdErr);
            return gateway;
        }
        catch
        {
            await gateway.DisposeAsync();
            throw;
        }
    }

    private static IReadOnlyList<FakeSlackMessage> Posted(FakeSlackServer slack, string text) => [.. slack.BotMessages().Where(m => m.Text == text)];

    private static async Task<ProcessResult> Cli(GatewayOsProcess gateway, string? stdin, params string[] args) =>
        await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, .. args],
            new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = gateway.ControlSocket }, stdin: stdin);

    private static async Task<string> VaultStateEventuallyAsync(GatewayOsProcess gateway, string wanted)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        string state;
        do
        {
            var r = await Cli(gateway, null, "vault", "status", "--json");
            Assert.True(r.ExitCode == 0, r.StdErr);
            state = JsonNode.Parse(r.StdOut)!["state"]!.GetValue<string>();
            if (state == wanted) return state;
            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        return state;
    }

    private static async Task<string> CreateAgentAsync(GatewayOsProcess gateway, string name)
    {
        var created = await new ControlClient(gateway.ControlSocket).CallAsync(ControlProtocol.Methods.AgentCreate,
            new JsonObject { ["name"] = name, ["purpose"] = "tests" }, CancellationToken.None);
        Assert.True(created.Ok, created.ErrorMessage);
        return created.Result!["token"]!.GetValue<string>();
    }

    private static async Task<JsonNode> WriteAsync(GatewayOsProcess gateway, string id)
    {
        var r = await new ControlClient(gateway.ControlSocket).CallAsync(ControlProtocol.Methods.ProxyWrites,
            new JsonObject { ["status"] = "all", ["service"] = "slack" }, CancellationToken.None);
        Assert.True(r.Ok, r.ErrorMessage);
        return r.Result!["writes"]!.AsArray().Single(w => w!["write_id"]!.GetValue<string>() == id)!;
    }

    private static Task Until(Func<bool> condition, string what) => Until(() => Task.FromResult(condition()), what);

    private static async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (!await condition().WaitAsync(Wait))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(200);
        }
    }
}
