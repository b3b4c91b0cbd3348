using System.Text.Json;
using Akka.Actor;
using Akka.TestKit.Xunit;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Policy;

public sealed class PolicyStoreSpecs(ITestOutputHelper output) : TestKit(output: output)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private static readonly CapabilityRegistry Registry = new(DefinitionLoader.BuiltIn());
    private static readonly Principal Bot = Principal.ForAgent(AgentName.Parse("bot"));
    private static readonly CapabilityDefinition Info = Registry.All.Single(d => d.Name.Value == "system.info");

    private const string BlockInfo = "rules:\n  - capability: system.info\n    tier: blocked\n    reason: bots do not read host facts\n";
    private const string NotifyInfo = "rules:\n  - capability: system.info\n    tier: notify\n";

    private readonly TempDir _dir = new();

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing) _dir.Dispose();
    }

    private string PoliciesDir => Path.Combine(_dir.Path, "policies");

    private void Write(string relative, string text) => PolicyDirectory.WriteAtomically(Path.Combine(PoliciesDir, relative), text);

    private (PolicyStore Store, IActorRef Loader) Start(TimeSpan? rescan = null)
    {
        var store = new PolicyStore(Registry, PoliciesDir);
        var loader = Sys.ActorOf(PolicyStoreActor.Props(store, PoliciesDir, rescan ?? TimeSpan.FromHours(1), TimeSpan.FromMilliseconds(50), TimeProvider.System));
        return (store, loader);
    }

    private static Task<PolicyStatus> Reload(IActorRef loader) =>
        loader.Ask<PolicyStatus>(PolicyStoreCommands.Reload.Instance, Wait, TestContext.Current.CancellationToken);

    private static PolicyVerdict DecideInfo(PolicyStore store) =>
        store.Decide(Bot, Info, CoreJson.EmptyObject, DateTimeOffset.UtcNow, RateState.Empty, out _);

    [Fact]
    public async Task Should_load_the_policy_directory_at_start_and_decide_from_it()
    {
        // arrange
        Write("org.yaml", PolicyTemplates.Get("team-moderate"));
        Write("agents/bot.yaml", BlockInfo);
        Write("org.yaml.bak-20260101T000000Z", "not: [yaml"); // backups are not policy files

        // act
        var (store, _) = Start();
        await store.Loaded.WaitAsync(Wait, TestContext.Current.CancellationToken);

        // assert
        var status = store.Status;
        Assert.True(status.Loaded);
        Assert.Equal("team-moderate", status.Template);
        Assert.Equal(["agents/bot.yaml", "org.yaml"], status.Files);
        Assert.Empty(status.Errors);
        var verdict = DecideInfo(store);
        Assert.Equal(Tier.Blocked, verdict.Tier);
        Assert.Equal("agents/bot.yaml:2", verdict.Rule);
        Assert.Equal(status.Revision, verdict.Revision);
        Assert.Equal(Tier.Blocked, store.VisibleTier(Bot, Info));
        Assert.Equal(Tier.Autonomous, store.VisibleTier(Principal.ForAgent(AgentName.Parse("other")), Info));
    }

    [Fact]
    public async Task Should_apply_protections_and_definition_tiers_when_there_are_no_policy_files()
    {
        // act
        var (store, _) = Start();
        await store.Loaded.WaitAsync(Wait, TestContext.Current.CancellationToken);

        // assert
        Assert.Equal(PolicySet.Empty(Registry).Revision, store.Status.Revision);
        Assert.Empty(store.Status.Files);
        Assert.Null(store.Status.Template);
        var verdict = DecideInfo(store);
        Assert.Equal(Info.DefaultTier, verdict.Tier);
        Assert.Equal("default:system.info", verdict.Rule);
    }

    [Fact]
    public async Task Should_hot_reload_an_edited_agent_file_without_being_asked()
    {
        // arrange
        Write("agents/bot.yaml", BlockInfo);
        var (store, _) = Start(rescan: TimeSpan.FromSeconds(1));
        await store.Loaded.WaitAsync(Wait, TestContext.Current.CancellationToken);
        var before = store.Status.Revision;
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        store.Changed += () => changed.TrySetResult();

        // act: only the watcher or the re-scan can notice this
        Write("agents/bot.yaml", NotifyInfo);
        await changed.Task.WaitAsync(Wait, TestContext.Current.CancellationToken);

        // assert
        Assert.NotEqual(before, store.Status.Revision);
        var verdict = DecideInfo(store);
        Assert.Equal(Tier.Notify, verdict.Tier);
        Assert.Equal("agents/bot.yaml:2", verdict.Rule);
    }

    [Fact]
    public async Task Should_keep_the_last_good_set_and_report_file_and_line_when_an_edit_does_not_compile()
    {
        // arrange
        Write("agents/bot.yaml", BlockInfo);
        var (store, loader) = Start();
        await store.Loaded.WaitAsync(Wait, TestContext.Current.CancellationToken);
        var good = store.Status.Revision;
        var changes = 0;
        store.Changed += () => Interlocked.Increment(ref changes);

        // act: an unknown tier on line 3
        Write("agents/bot.yaml", "rules:\n  - capability: system.info\n    tier: sometimes\n");
        var status = await Reload(loader);

        // assert
        Assert.True(status.Loaded);
        Assert.Equal(good, status.Revision);
        var error = Assert.Single(status.Errors);
        Assert.Equal("agents/bot.yaml", error.Location.File);
        Assert.Equal(3, error.Location.Line);
        Assert.NotNull(status.RejectedRevision);
        Assert.NotEqual(good, status.RejectedRevision);
        Assert.Equal(Tier.Blocked, DecideInfo(store).Tier);
        Assert.Equal(0, Volatile.Read(ref changes));

        // act: the fix is taken and clears the error
        Write("agents/bot.yaml", NotifyInfo);
        status = await Reload(loader);

        // assert
        Assert.Empty(status.Errors);
        Assert.Equal(Tier.Notify, DecideInfo(store).Tier);
        Assert.Equal(1, Volatile.Read(ref changes));
    }

    [Fact]
    public async Task Should_raise_changed_once_per_real_change_and_not_for_rewrites_or_rescans()
    {
        // arrange
        Write("agents/bot.yaml", BlockInfo);
        var (store, loader) = Start();
        await store.Loaded.WaitAsync(Wait, TestContext.Current.CancellationToken);
        var changes = 0;
        store.Changed += () => Interlocked.Increment(ref changes);

        // act: the same bytes written again, then reloads with nothing new
        Write("agents/bot.yaml", BlockInfo);
        await Reload(loader);
        await Reload(loader);

        // assert
        Assert.Equal(0, Volatile.Read(ref changes));

        // act: a broken edit, then the file restored to the set in force
        Write("agents/bot.yaml", "rules: [ unclosed\n");
        Assert.NotEmpty((await Reload(loader)).Errors);
        Write("agents/bot.yaml", BlockInfo);
        var restored = await Reload(loader);

        // assert: nothing changed for clients, and the error is cleared
        Assert.Empty(restored.Errors);
        Assert.Equal(0, Volatile.Read(ref changes));

        // act: one real change, then more reloads
        Write("org.yaml", PolicyTemplates.Get("enterprise-restrictive"));
        await Reload(loader);
        await Reload(loader);

        // assert
        Assert.Equal(1, Volatile.Read(ref changes));
        Assert.Equal("enterprise-restrictive", store.Status.Template);

        // act: deleting the file is a change too
        File.Delete(Path.Combine(PoliciesDir, "org.yaml"));
        await Reload(loader);

        // assert
        Assert.Equal(2, Volatile.Read(ref changes));
        Assert.Null(store.Status.Template);
    }

    [Fact]
    public async Task Should_refuse_every_call_when_the_first_load_fails()
    {
        // arrange
        Write("org.yaml", "rules: [ this is not closed\n");

        // act
        var (store, loader) = Start();
        var status = await Reload(loader);

        // assert
        Assert.False(status.Loaded);
        Assert.NotEmpty(status.Errors);
        Assert.Equal("org.yaml", status.Errors[0].Location.File);
        var verdict = DecideInfo(store);
        Assert.Equal(PolicyStore.NotLoadedRule, verdict.Rule);
        Assert.Equal("ServiceUnavailable", verdict.Refusal?.ErrorType);
        Assert.Contains("org.yaml:", verdict.Refusal!.Message, StringComparison.Ordinal);
        Assert.False(store.Loaded.IsCompleted);
    }

    [Fact]
    public void Should_fail_closed_before_anything_is_loaded()
    {
        // arrange
        var store = new PolicyStore(Registry, PoliciesDir);

        // act
        var verdict = DecideInfo(store);

        // assert
        Assert.Equal(Tier.Blocked, verdict.Tier);
        Assert.Equal("ServiceUnavailable", verdict.Refusal?.ErrorType);
    }

    [Fact]
    public void Should_turn_a_refused_rate_limit_into_a_rate_limited_refusal()
    {
        // arrange
        var compiled = PolicyCompiler.Compile(new Dictionary<string, string>
        {
            ["org.yaml"] = "rules:\n  - capability: system.info\n    tier: autonomous\n    rate_limit: { max: 1, window: 1h }\n",
        }, Registry);
        var store = new PolicyStore(Registry, compiled.Set!);
        var now = DateTimeOffset.UtcNow;

        // act
        var first = store.Decide(Bot, Info, CoreJson.EmptyObject, now, RateState.Empty, out var rates);
        var second = store.Decide(Bot, Info, CoreJson.EmptyObject, now.AddSeconds(1), rates, out _);

        // assert
        Assert.Null(first.Refusal);
        Assert.Equal("RateLimited", second.Refusal?.ErrorType);
        Assert.NotNull(second.Refusal!.RetryAfterSeconds);
    }

    [Fact]
    public async Task Should_serve_the_node_policy_from_the_data_directory_when_hosted()
    {
        // arrange
        Write("agents/bot.yaml", BlockInfo);
        var settings = new KruxOsSettings { DataDir = _dir.Path, MetricsInterval = TimeSpan.FromMinutes(5) };

        // act
        await using var node = await NodeHost.StartAsync(settings);
        var store = node.Services.GetRequiredService<PolicyStore>();
        await store.Loaded.WaitAsync(Wait, TestContext.Current.CancellationToken);
        var loader = await node.Registry.GetAsync<PolicyStoreActor>(TestContext.Current.CancellationToken);
        Write("agents/bot.yaml", NotifyInfo);
        var status = await loader.Ask<PolicyStatus>(PolicyStoreCommands.Reload.Instance, Wait, TestContext.Current.CancellationToken);

        // assert
        Assert.Same(store, node.Services.GetRequiredService<IPolicySeam>());
        Assert.Equal(["agents/bot.yaml"], status.Files);
        Assert.Equal(Tier.Notify, DecideInfo(store).Tier);
        var args = JsonDocument.Parse("{}").RootElement;
        Assert.Equal(Tier.Notify, store.Check(Bot, Info, args, DateTimeOffset.UtcNow).Tier);
    }
}
