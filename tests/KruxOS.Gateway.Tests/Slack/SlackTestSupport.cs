using System.Text;
using System.Text.Json.Nodes;
using Akka.Hosting;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Proxy;
using KruxOS.Actors.Vault;
using KruxOS.Core.Proxy;
using KruxOS.Proxy;
using KruxOS.Testing;
using KruxOS.Testing.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Slack;

/// <summary>
/// A real gateway (unlocked vault) whose Slack adapter points at a <see cref="FakeSlackServer"/>, with a short send window,
/// a short retry backoff and a sync interval long enough that only the specs start syncs. The fake workspace: #general
/// (a thread with two replies and a reaction), #random, #batch and #failing; users alice and bob.
/// </summary>
public sealed class SlackGateway : IAsyncLifetime
{
    public const string Passphrase = "correct horse battery staple";
    public static readonly TimeSpan Window = TimeSpan.FromSeconds(10); // long enough for a second client process to cancel on a loaded 2-core machine

    public TestGateway Gateway { get; private set; } = null!;
    public FakeSlackServer Slack { get; private set; } = null!;
    public string Agent { get; private set; } = "";
    public string ThreadTs { get; private set; } = "";

    public async ValueTask InitializeAsync()
    {
        Slack = await FakeSlackServer.StartAsync();
        Slack.AddUser("U0ALICE", "alice", "Alice Adams");
        Slack.AddUser("U0BOB", "bob", "Bob Brown");
        Slack.AddChannel("C0GENERAL", "general", topic: "Company-wide", members: 12);
        Slack.AddChannel("C0RANDOM", "random", topic: "Off topic", members: 5);
        Slack.AddChannel("C0BATCH", "batch");
        Slack.AddChannel("C0FAILING", "failing");
        ThreadTs = Slack.Post("C0GENERAL", "U0ALICE", "Who has the deploy key?");
        Slack.Post("C0GENERAL", "U0BOB", "I do, in the vault", threadTs: ThreadTs);
        Slack.Post("C0GENERAL", "U0ALICE", "thanks!", threadTs: ThreadTs);
        Slack.React("C0GENERAL", ThreadTs, "eyes", "U0BOB");
        Slack.Post("C0RANDOM", "U0BOB", "Lunch at noon?");
        Gateway = await StartAsync(Slack);
        Agent = await Gateway.CreateAgentAsync("slackbot");
        await ConnectAsync(Gateway, Slack);
    }

    /// <summary>Starts a gateway on <paramref name="slack"/> (or restarts one on its data directory).</summary>
    public static async Task<TestGateway> StartAsync(FakeSlackServer slack, string? dataDir = null)
    {
        var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test")), dataDir,
            "--KruxOS:Slack:BaseUrl", slack.BaseUrl,
            "--KruxOS:Slack:SendWindow", "00:00:10",
            "--KruxOS:Slack:SyncInterval", "01:00:00",
            "--KruxOS:Slack:MaxRateLimitWait", "00:00:02",
            "--KruxOS:Proxy:Backoff:0", "00:00:01", "--KruxOS:Proxy:Backoff:1", "00:00:01", "--KruxOS:Proxy:Backoff:2", "00:00:01",
            "--KruxOS:Proxy:Backoff:3", "00:00:01", "--KruxOS:Proxy:Backoff:4", "00:00:01");
        await WaitReadyAsync(gateway);
        return gateway;
    }

    public static async Task WaitReadyAsync(TestGateway gateway)
    {
        await gateway.Services.GetRequiredService<PolicyStore>().Loaded.WaitAsync(TestTimeouts.Call);
        await Until(() => Task.FromResult(gateway.Services.GetRequiredService<VaultAdmin>().LockState == VaultLockState.Unlocked), "the vault did not unlock");
    }

    /// <summary>Connects Slack as an operator would (<c>kruxos connect slack</c>) and waits for the first sync.</summary>
    public static async Task ConnectAsync(TestGateway gateway, FakeSlackServer slack)
    {
        var admin = gateway.Services.GetRequiredService<ProxyAdmin>();
        var connected = await admin.ConnectAsync("slack", null, Encoding.ASCII.GetBytes(slack.Token), "operator", CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(90));
        Assert.True(connected.IsOk, connected.Error?.Message);
        await Until(async () => (await SyncStateAsync(gateway)).LastSyncAt is not null, "the first sync did not finish");
    }

    public static Task<ReplicaSyncState> SyncStateAsync(TestGateway gateway) =>
        gateway.Services.GetRequiredService<IServiceProxy>().Replica(ServiceName.Parse("slack")).ReadSyncStateAsync(CancellationToken.None);

    /// <summary>Starts a sync now and waits until it has finished.</summary>
    public static async Task SyncNowAsync(TestGateway gateway)
    {
        var before = (await SyncStateAsync(gateway)).LastSyncAt;
        gateway.Services.GetRequiredService<ActorRegistry>().Get<ProxySyncRunner>().Tell(new ProxySyncActor.SyncNow(ServiceName.Parse("slack")), Akka.Actor.ActorRefs.NoSender);
        await Until(async () => (await SyncStateAsync(gateway)).LastSyncAt > before, "the sync did not finish");
    }

    /// <summary>Runs the Node MCP SDK client with the calls (tool, JSON arguments) and returns each call's result.</summary>
    public async Task<JsonArray> CallAsync(string token, int timeoutMs, params (string Tool, JsonObject Args)[] calls)
    {
        string[] args = ["--transport", "http", "--url", Gateway.McpHttp.ToString(), "--timeout", timeoutMs.ToString(System.Globalization.CultureInfo.InvariantCulture),
            .. calls.SelectMany(c => new[] { "--call", c.Tool, c.Args.ToJsonString() })];
        var run = await NodeClients.RunAsync(token, args).WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(run["connected"]!.GetValue<bool>(), run.ToJsonString());
        return run["results"]!.AsArray();
    }

    public Task<JsonArray> CallAsync(params (string Tool, JsonObject Args)[] calls) => CallAsync(Agent, 60_000, calls);

    /// <summary>Polls <paramref name="condition"/> every 100 ms for at most 60 s.</summary>
    public static async Task Until(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition().WaitAsync(TimeSpan.FromSeconds(60)))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(100);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Slack.DisposeAsync();
    }
}
