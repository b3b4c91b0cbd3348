using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Capabilities.AgentCategory;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Agents;

/// <summary>The outputs of <c>agent.policy</c> and <c>agent.capabilities</c> (spec §8.4) as the pipeline returns them.</summary>
public sealed class AgentCapabilityShapeSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly CapabilityDefinition Held = TestCapabilities.Def("test.held", Tier.ApprovalRequired);
    private static readonly CapabilityDefinition Noted = TestCapabilities.Def("test.noted", Tier.Notify);
    private readonly ConcurrentQueue<AuditEntry> _records = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private static CapabilityCatalog Catalog() => new(
        [.. DefinitionLoader.BuiltIn().Where(d => d.Name.Category == "agent"), Held, Noted, TestCapabilities.Echo],
        [new AgentPolicyHandler(), new AgentCapabilitiesHandler(), new AgentWhoAmIHandler(), new AgentSessionHandler(new KruxOS.Actors.State.StateAccess(new ActorRegistry(), new KruxOS.Actors.Hosting.KruxOsSettings())),
         new Echo(Held.Name), new Echo(Noted.Name), new Echo(TestCapabilities.Echo.Name)]);

    private async Task<JsonElement> CallAsync(IPolicySeam? policy, string tool, string args = "{}", Func<CapabilityCatalog, IPolicySeam>? policyFor = null)
    {
        var catalog = Catalog();
        var session = Sys.ActorOf(AgentSessionActor.Props("builder",
            Pipeline.Dependencies(catalog, Sys.ActorOf(RecordingAudit.Props(_records)), policy ?? policyFor?.Invoke(catalog))));
        session.Tell(Pipeline.Invoke(tool, TestActor, args));
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
        Assert.False(result.IsError, result.Error?.Message);
        return result.Data!.Value;
    }

    [Fact]
    public async Task Should_report_a_tier_as_default_tier_and_the_definition_tiers_when_no_policy_sets_a_default()
    {
        // act: no policy files at all
        var policy = await CallAsync(null, "agent.policy");

        // assert: spec keys, never a null default
        foreach (var key in new[] { "policy_group", "rules", "default_tier" }) Assert.True(policy.TryGetProperty(key, out _), key);
        Assert.Equal("autonomous", policy.GetProperty("default_tier").GetString());
        Assert.Equal("capability_definitions", policy.GetProperty("default_tier_source").GetString());
        var definitionTiers = policy.GetProperty("definition_tiers").EnumerateArray()
            .ToDictionary(e => e.GetProperty("capability").GetString()!, e => e.GetProperty("tier").GetString()!);
        Assert.Equal(new Dictionary<string, string> { ["test.held"] = "approval_required", ["test.noted"] = "notify" }, definitionTiers);
        Assert.Equal("default", policy.GetProperty("policy_group").GetString());
        // the system protections are listed as rules, each with the spec's keys
        Assert.NotEmpty(policy.GetProperty("rules").EnumerateArray());
        Assert.All(policy.GetProperty("rules").EnumerateArray(), r =>
        {
            Assert.Equal(JsonValueKind.String, r.GetProperty("capability").ValueKind);
            Assert.Equal(JsonValueKind.String, r.GetProperty("tier").ValueKind);
            Assert.True(r.TryGetProperty("reason", out _));
            Assert.True(r.TryGetProperty("rate_limit", out _));
        });
    }

    [Fact]
    public async Task Should_report_the_policys_default_tier_when_one_is_set()
    {
        var policy = await CallAsync(null, "agent.policy", policyFor: catalog => new PolicyStore(catalog.Registry,
            PolicyCompiler.Compile(new Dictionary<string, string> { ["org.yaml"] = "name: team\ndefaults:\n  tier: notify\n" }, catalog.Registry).Set!));
        Assert.Equal("notify", policy.GetProperty("default_tier").GetString());
        Assert.Equal("policy", policy.GetProperty("default_tier_source").GetString());
        Assert.Empty(policy.GetProperty("definition_tiers").EnumerateArray());
        Assert.Equal("team", policy.GetProperty("policy_group").GetString());
    }

    [Fact]
    public async Task Should_list_capabilities_with_their_visible_tier_and_tags_omitting_blocked_ones()
    {
        // arrange: test.held is blocked for this agent
        var fixedPolicy = new FixedPolicy(new Dictionary<string, Tier> { ["test.held"] = Tier.Blocked });

        // act
        var all = await CallAsync(fixedPolicy, "agent.capabilities");
        var agentOnly = await CallAsync(fixedPolicy, "agent.capabilities", """{"category":"agent"}""");

        // assert
        Assert.Equal(["capabilities", "total"], all.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
        var listed = all.GetProperty("capabilities").EnumerateArray().ToList();
        Assert.Equal(listed.Count, all.GetProperty("total").GetInt32());
        Assert.All(listed, c =>
        {
            Assert.Equal(["name", "permission_tier", "purpose", "tags"], c.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
            Assert.Equal(JsonValueKind.Array, c.GetProperty("tags").ValueKind);
        });
        Assert.DoesNotContain(listed, c => c.GetProperty("name").GetString() == "test.held");
        Assert.Equal("notify", listed.Single(c => c.GetProperty("name").GetString() == "test.noted").GetProperty("permission_tier").GetString());
        Assert.Equal(4, agentOnly.GetProperty("total").GetInt32());
        Assert.All(agentOnly.GetProperty("capabilities").EnumerateArray(), c => Assert.StartsWith("agent.", c.GetProperty("name").GetString()));
    }

    private sealed class Echo(CapabilityName name) : ICapabilityHandler
    {
        public CapabilityName Name => name;

        public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
            ValueTask.FromResult<CapabilityOutput>(arguments);
    }
}
