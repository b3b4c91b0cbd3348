using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Calls;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using Xunit;
using static KruxOS.Core.Identity.IdentityCommands;

namespace KruxOS.Actors.Tests.Calls;

/// <summary>
/// Attack: a call reaches the pipeline for an agent whose credential the operator revoked, without passing an edge's
/// authentication (an in-process submitter such as the scheduler or a dashboard action, or a call queued before the
/// revocation). The session re-checks the identity for every call, refuses it with the edges' error and audits it;
/// nothing runs. Real session entity, real dispatcher, recording audit writer.
/// </summary>
public sealed class RevokedCallerDispatchSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
    private readonly TestCapabilities _caps = new();
    private readonly ConcurrentQueue<AuditEntry> _records = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private static IdentityState Apply(IdentityState state, params IIdentityCommand[] commands)
    {
        foreach (var c in commands)
        {
            var (result, events) = state.ProcessCommand(c);
            Assert.True(result.IsOk, result.Message);
            state = events.Aggregate(state, (acc, e) => acc.Apply(e));
        }
        return state;
    }

    // The session entity of `agent`, reached through the dispatcher as the region would route to it.
    private CallDispatcher Dispatcher(string agent, IdentityDirectory identities)
    {
        var audit = Sys.ActorOf(RecordingAudit.Props(_records));
        var session = Sys.ActorOf(AgentSessionActor.Props(agent, Pipeline.Dependencies(_caps.Catalog(), audit, identities: identities)));
        return new CallDispatcher(new RegionStandIn<AgentSessionRegion>(session), new DispatchTimeouts(TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(60), DispatchTimeouts.DefaultDecision));
    }

    private static CallSubmission Scheduled(AgentName agent, Principal principal) =>
        new(principal, agent, "sched-job-1", "test__echo", JsonDocument.Parse("""{"text":"fire"}""").RootElement.Clone(), new ClientInfo("kruxos-scheduler", "1"),
            CallMode.Held, Trigger: new CallTrigger("schedule", "job-1"));

    [Fact]
    public async Task Should_refuse_and_audit_a_call_an_actor_submits_for_a_revoked_agent()
    {
        // arrange: the agent exists and is revoked; the submitter (like the scheduler) never authenticates a token
        var identities = new IdentityDirectory();
        identities.Publish(Apply(IdentityState.Empty, new CreateAgent("builder", "tests", TokenHashing.Hash("t"), T0), new RevokeAgent("builder", T0)));
        var dispatcher = Dispatcher("builder", identities);
        // act
        dispatcher.Dispatch(Scheduled(Pipeline.Agent, Principal.ForAgent(Pipeline.Agent)), TestActor);
        // assert: the edges' refusal, nothing executed, and the refusal is in the audit log with its trigger
        var result = await ExpectMsgAsync<ToolCallResult>(TestTimeouts.Reply, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(Core.Errors.Errors.AgentRevoked("builder"), result.Error);
        Assert.Null(result.Data);
        Assert.Empty(_caps.Executed);
        var entry = Assert.Single(_records);
        Assert.Equal((AuditEntryKind.Call, AuditStatus.Error, "auth.agent_revoked", "test.echo"), (entry.Kind, entry.Status, entry.Metadata.ErrorType, entry.Capability));
        Assert.Equal(Principal.ForAgent(Pipeline.Agent), entry.Actor);
    }

    [Fact]
    public async Task Should_refuse_calls_from_the_moment_of_revocation_and_run_them_again_once_restored()
    {
        // arrange: a live session that has already run a call for the agent
        var identities = new IdentityDirectory();
        var state = Apply(IdentityState.Empty, new CreateAgent("builder", "tests", TokenHashing.Hash("t"), T0));
        identities.Publish(state);
        var dispatcher = Dispatcher("builder", identities);
        var ct = TestContext.Current.CancellationToken;
        var before = await dispatcher.DispatchAsync(Scheduled(Pipeline.Agent, Principal.ForAgent(Pipeline.Agent)), ct);
        // act: revoked while the session lives (no passivation in between), then restored with a new token
        state = Apply(state, new RevokeAgent("builder", T0.AddMinutes(1)));
        identities.Publish(state);
        var during = await dispatcher.DispatchAsync(Scheduled(Pipeline.Agent, Principal.ForAgent(Pipeline.Agent)), ct);
        identities.Publish(Apply(state, new RestoreAgent("builder", TokenHashing.Hash("t2"), T0.AddMinutes(2))));
        var after = await dispatcher.DispatchAsync(Scheduled(Pipeline.Agent, Principal.ForAgent(Pipeline.Agent)), ct);
        // assert
        Assert.False(before.IsError);
        Assert.Equal("auth.agent_revoked", during.Error?.ErrorType);
        Assert.False(after.IsError);
        Assert.Equal(2, _caps.Executed.Count);
        Assert.Equal(new[] { AuditStatus.Success, AuditStatus.Error, AuditStatus.Success }, _records.Select(r => r.Status));
    }

    [Fact]
    public async Task Should_refuse_a_call_in_the_user_context_of_a_revoked_user_token()
    {
        // arrange
        var identities = new IdentityDirectory();
        identities.Publish(Apply(IdentityState.Empty, new CreateUserToken("u-1", "laptop", TokenHashing.Hash("krx_user_x"), T0), new RevokeUserToken("u-1", T0)));
        var context = AgentName.UserContext("u-1");
        var dispatcher = Dispatcher(context.Value, identities);
        // act
        var result = await dispatcher.DispatchAsync(Scheduled(context, Principal.ForUser("laptop")), TestContext.Current.CancellationToken);
        // assert
        Assert.Equal("auth.user_token_revoked", result.Error?.ErrorType);
        Assert.Empty(_caps.Executed);
        Assert.Equal("auth.user_token_revoked", Assert.Single(_records).Metadata.ErrorType);
    }

    [Fact]
    public async Task Should_run_nothing_while_the_node_does_not_know_its_identities_yet()
    {
        // arrange: the identity read model has not been published (a node still recovering)
        var dispatcher = Dispatcher("builder", new IdentityDirectory());
        // act
        var result = await dispatcher.DispatchAsync(Scheduled(Pipeline.Agent, Principal.ForAgent(Pipeline.Agent)), TestContext.Current.CancellationToken);
        // assert: fail closed and retryable, audited
        Assert.Equal("ServiceUnavailable", result.Error?.ErrorType);
        Assert.True(result.Error!.Retryable);
        Assert.Empty(_caps.Executed);
        Assert.Single(_records);
    }
}
