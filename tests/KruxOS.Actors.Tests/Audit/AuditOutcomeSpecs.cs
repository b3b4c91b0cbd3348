using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Capabilities;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Audit;

/// <summary>
/// What the pipeline records for each kind of outcome, asserted on the entries the audit seam receives
/// (<see cref="RecordingAudit"/>): refusals, failures, path escapes, the policy revision.
/// </summary>
public sealed class AuditOutcomeSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly CapabilityDefinition Escapes = TestCapabilities.Def("test.escapes", Tier.Autonomous);
    private readonly TestCapabilities _caps = new();
    private readonly ConcurrentQueue<AuditEntry> _records = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private IActorRef Session(IPolicySeam? policy = null, TimeSpan? execTimeout = null, CapabilityCatalog? catalog = null) =>
        Sys.ActorOf(AgentSessionActor.Props("builder",
            Pipeline.Dependencies(catalog ?? _caps.Catalog(), Sys.ActorOf(RecordingAudit.Props(_records)), policy, execTimeout)));

    private async Task<ToolCallResult> Call(IActorRef session, string capability, string args = "{}")
    {
        session.Tell(Pipeline.Invoke(capability, TestActor, args));
        return await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_record_a_rate_limited_refusal_as_denied_with_its_error_and_nothing_run()
    {
        var session = Session(new Verdicts(_ => new PolicyVerdict(Tier.Autonomous, "agent.yaml:4", "10 per minute", "rev-7",
            Errors.RateLimited(10, 60, 42))));

        var result = await Call(session, "test.echo", """{"text":"x"}""");

        Assert.Equal("RateLimited", result.Error!.ErrorType);
        Assert.Empty(_caps.Executed);
        var entry = Assert.Single(_records); // no policy_violation: the tier allowed it, the rate limit refused it
        Assert.Equal((AuditEntryKind.Call, AuditStatus.Denied, "RateLimited"), (entry.Kind, entry.Status, entry.Metadata.ErrorType));
        Assert.Equal(("agent.yaml:4", Tier.Autonomous), (entry.PolicyDecision!.Rule, entry.PolicyDecision.Tier));
        Assert.StartsWith("RateLimited: ", entry.OutputSummary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_record_an_execution_timeout_as_an_error()
    {
        var session = Session(execTimeout: TimeSpan.FromMilliseconds(300));

        var result = await Call(session, "test.hang");

        Assert.Equal("Timeout", result.Error!.ErrorType);
        var entry = Assert.Single(_records);
        Assert.Equal((AuditStatus.Error, "Timeout", "test.hang"), (entry.Status, entry.Metadata.ErrorType, entry.Capability));
        Assert.True(entry.DurationMs >= 250, $"duration {entry.DurationMs} ms");
    }

    [Fact]
    public async Task Should_record_a_handler_crash_as_an_internal_error_without_its_details()
    {
        var session = Session();

        await Call(session, "test.boom");

        var entry = Assert.Single(_records);
        Assert.Equal((AuditStatus.Error, "InternalError"), (entry.Status, entry.Metadata.ErrorType));
        Assert.DoesNotContain("secret internal detail", entry.OutputSummary, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_record_a_path_escape_entry_before_the_call_when_the_system_protection_blocks_it()
    {
        var session = Session(new Verdicts(_ => new PolicyVerdict(Tier.Blocked, SystemProtections.PathEscape.Reference,
            SystemProtections.PathEscape.Description, "rev-7")));

        var result = await Call(session, "test.echo", """{"text":"../../etc/shadow"}""");

        Assert.Equal("PolicyDenied", result.Error!.ErrorType);
        Assert.Collection(_records,
            e =>
            {
                Assert.Equal((AuditEntryKind.PathEscape, AuditStatus.Denied, "test.echo"), (e.Kind, e.Status, e.Capability));
                Assert.Equal("PathOutOfScope", e.Metadata.ErrorType);
            },
            e => Assert.Equal((AuditEntryKind.Call, AuditStatus.Denied, "PolicyDenied"), (e.Kind, e.Status, e.Metadata.ErrorType)));
        Assert.Empty(_caps.Executed);
    }

    [Fact]
    public async Task Should_record_a_path_escape_entry_with_the_mount_and_resolved_path_when_the_capability_reports_one()
    {
        // arrange: a capability that finds the path outside the caller's mounts (as the sandbox reports it)
        var catalog = new CapabilityCatalog([Escapes], [new EscapingHandler()]);
        var session = Session(catalog: catalog);

        // act
        var result = await Call(session, "test.escapes");

        // assert
        Assert.Equal("PathOutOfScope", result.Error!.ErrorType);
        Assert.Collection(_records,
            e =>
            {
                Assert.Equal(AuditEntryKind.PathEscape, e.Kind);
                Assert.Equal("data", e.Metadata.Details!.Value.GetProperty("mount").GetString());
                Assert.Equal("/etc/passwd", e.Metadata.Details!.Value.GetProperty("resolved_path").GetString());
            },
            e => Assert.Equal((AuditEntryKind.Call, AuditStatus.Error, "PathOutOfScope"), (e.Kind, e.Status, e.Metadata.ErrorType)));
    }

    [Fact]
    public async Task Should_record_a_call_that_needs_approval_on_a_node_without_a_queue_as_denied_with_ApprovalUnavailable()
    {
        var session = Session(new FixedPolicy(new Dictionary<string, Tier> { ["test.echo"] = Tier.ApprovalRequired }));

        await Call(session, "test.echo", """{"text":"x"}""");

        var entry = Assert.Single(_records);
        Assert.Equal((AuditStatus.Denied, "ApprovalUnavailable", Tier.ApprovalRequired), (entry.Status, entry.Metadata.ErrorType, entry.PolicyDecision!.Tier));
        Assert.Null(entry.Metadata.ApprovalRequestId);
        Assert.Empty(_caps.Executed);
    }

    [Fact]
    public async Task Should_record_a_policy_revision_that_is_not_a_number_in_the_details_and_a_numeric_one_as_the_revision()
    {
        // the policy engine names revisions by hex digits (here "rev-1"), which do not fit policy_decision.revision
        var session = Session(new FixedPolicy(new Dictionary<string, Tier>()));
        await Call(session, "test.echo", """{"text":"x"}""");
        var named = Assert.Single(_records);
        Assert.Null(named.PolicyDecision!.Revision);
        Assert.Equal("rev-1", named.Metadata.Details!.Value.GetProperty("policy_revision").GetString());

        // a numeric revision goes to policy_decision.revision, and not to the details
        var numeric = CallAudit.ToEntry(new CallRecord(DateTimeOffset.UtcNow, Principal.ForAgent(Pipeline.Agent), Pipeline.Agent, "sess-1", "test.echo",
            CoreJson.EmptyObject, new ClientInfo("spec", "1"), AuditStatus.Success, Tier.Autonomous, "agent.default", "42", null, null, 1000));
        Assert.Equal(42, numeric.PolicyDecision!.Revision);
        Assert.Null(numeric.Metadata.Details);
    }

    /// <summary>A policy seam whose verdict the spec chooses.</summary>
    private sealed class Verdicts(Func<CapabilityDefinition, PolicyVerdict> decide) : IPolicySeam
    {
        public PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now, RateState rateState, out RateState newRateState)
        {
            newRateState = rateState;
            return decide(capability);
        }

        public Tier VisibleTier(Principal principal, CapabilityDefinition capability) => capability.DefaultTier;

        public EffectivePolicy Effective(Principal principal, CapabilityRegistry registry) => new("test", [], null, "rev-7");

        public event Action? Changed { add { } remove { } }
    }

    private sealed class EscapingHandler : ICapabilityHandler
    {
        public CapabilityName Name => Escapes.Name;

        public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
            throw new CapabilityException(StructuredError.Create(CallAudit.PathOutOfScope, "The path is outside your mounts.")
                .WithContext("mount", "data").WithContext("resolved_path", "/etc/passwd"));
    }
}
