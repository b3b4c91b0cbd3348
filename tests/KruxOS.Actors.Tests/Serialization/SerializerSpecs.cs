using System.Collections.Immutable;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Serialization;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core;
using KruxOS.Actors.Approvals;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using KruxOS.Core.Supervision;
using Xunit;

namespace KruxOS.Actors.Tests.Serialization;

public sealed class SerializerSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    private static readonly DateTimeOffset At = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) => builder.AddKruxSerialization();

    public static IEnumerable<object> Samples()
    {
        var agent = AgentName.Parse("builder");
        var call = Pipeline.Call("system__time", """{"timezone":"UTC"}""");
        var error = Errors.PolicyDenied(CapabilityName.Parse("process.run"), "system.deny", "dangerous").RetryAfter(3);
        var agentRecord = new AgentRecord("builder", "p", AgentStatus.Active, "h", At, At, null);
        var userRecord = new UserTokenRecord("u1", "ops", UserTokenStatus.Revoked, "h2", At, At, CredentialRole.Operator);
        yield return new IdentityCommands.CreateAgent("builder", "p", "h", At);
        yield return new IdentityCommands.RotateAgentToken("builder", "h", At);
        yield return new IdentityCommands.RevokeAgent("builder", At);
        yield return new IdentityCommands.RestoreAgent("builder", "h", At);
        yield return new IdentityCommands.CreateUserToken("u1", "ops", "h", At, CredentialRole.Operator);
        yield return new IdentityCommands.RevokeUserToken("u1", At);
        yield return new KruxOS.Actors.Capabilities.Sandboxed.SandboxStopMessages.StopAgent("builder", true, "agent revoked");
        yield return new KruxOS.Actors.Capabilities.Sandboxed.SandboxStopMessages.ReleaseAgent("builder");
        yield return new KruxOS.Actors.Capabilities.Sandboxed.SandboxStopMessages.AgentStopped("builder", 3, true);
        yield return new KruxOS.Actors.Capabilities.Sandboxed.SandboxStopMessages.Broadcast("builder", true, false, "killed by operator", "akka.tcp://kruxos@127.0.0.1:7800");
        yield return IdentityQueries.GetIdentities.Instance;
        yield return new VersionedIdentityState(7, IdentityState.Empty.Apply(new IdentityEvents.AgentCreated("builder", "p", "h", At)));
        yield return new IdentityResult(IdentityResultCode.Ok, "ok", agentRecord, userRecord);
        yield return new IdentityEvents.AgentCreated("builder", "p", "h", At);
        yield return new IdentityEvents.AgentTokenRotated("builder", "h", At);
        yield return new IdentityEvents.AgentRevoked("builder", At);
        yield return new IdentityEvents.AgentRestored("builder", "h", At);
        yield return new IdentityEvents.UserTokenCreated("u1", "ops", "h", At, CredentialRole.Operator);
        yield return new IdentityEvents.UserTokenRevoked("u1", At);
        yield return agentRecord;
        yield return userRecord;
        yield return IdentityState.Empty.Apply(new IdentityEvents.AgentCreated("builder", "p", "h", At)).Apply(new IdentityEvents.UserTokenCreated("u1", "ops", "h2", At));
        yield return new ClientInfo("claude-code", "2.1");
        yield return call;
        yield return ToolCallResult.Success(CapabilityName.Parse("system.time"), CoreJson.EmptyObject, Tier.Notify, 12);
        yield return ToolCallResult.Failure("process.run", error, Tier.Blocked, 5);
        yield return error;
        yield return new RecoveryAction("check_policy", "d", "agent.policy");
        yield return Principal.ForUser("ops");
        yield return SupervisionEvent.Create("capability_invoked", At, "builder", "sess-1", new { capability = "system.time" });
        yield return new AgentSessionCommands.Detach(agent, "sess-1");
        yield return new AgentSessionCommands.Terminate(agent, "revoked");
        yield return new AgentSessionCommands.GetInfo(AgentName.UserContext("u-1"));
        yield return new AgentSessionCommands.Notify(agent, "notifications/kruxos/file_changed", """{"watch_id":"w-1","path":"/workspace/a"}""");
        yield return new AgentSessionReplies.Notification("notifications/kruxos/file_changed", """{"watch_id":"w-1"}""");
        yield return new AgentSessionReplies.Terminated("revoked");
        yield return new AgentSessionReplies.TerminateResult("builder", 2);
        yield return new AgentSessionReplies.ConnectionInfo("sess-1", "claude-code", At);
        yield return new AgentSessionReplies.SessionInfo("builder", [new AgentSessionReplies.ConnectionInfo("sess-1", "x", At)], 3, At, 1);
        var apprId = ApprovalId.Parse("appr-0123456789abcdef");
        var args = JsonDocument.Parse("""{"command":"ls","password":"x"}""").RootElement.Clone();
        var request = new ApprovalRequest(apprId, Principal.ForAgent(agent), agent, "sess-1", "process.run", ApprovalArguments.Redact(args),
            ApprovalArguments.Hash(args), "dev.yaml:3", "rev-1", "runs commands", new ClientInfo("claude-code", "2.1"), At, At.AddDays(1));
        yield return request;
        yield return new ApprovalDecision(true, "cli:root", "ok", At, ApprovalDecider.ControlSocket(0));
        var ops = new ApprovalDecider("ops", CredentialRole.Operator, DecisionSurface.UserApi, DeciderCredential.UserToken, "u1");
        yield return ops;
        yield return ApprovalState.Empty.Apply(new ApprovalEvents.ApprovalRequested(request))
            .Apply(new ApprovalEvents.ApprovalGranted(apprId, "cli:root", "ok", request.ArgumentsHash, At.AddMinutes(10), At));
        yield return new ApprovalCommands.RequestApproval(request);
        yield return new ApprovalCommands.Decide(apprId, true, ops, "fine", At, At.AddMinutes(10));
        yield return new ApprovalCommands.TimeOut(apprId, At);
        yield return new ApprovalCommands.ClaimGrant(apprId, "akka.tcp://kruxos@10.0.0.1:7710/system/sharding/agent-session/3/builder/run-1#1234", agent, "process.run", request.ArgumentsHash, true, At);
        yield return new ApprovalCommands.LapseGrant(apprId, At);
        yield return new ApprovalCommands.Invalidate(apprId, "agent revoked", At);
        yield return new ApprovalResult(ApprovalResultCode.Conflict, ApprovalStatus.TimedOut, "late");
        yield return new ApprovalResult(ApprovalResultCode.Forbidden, null, "separation of duties");
        yield return new ApprovalEvents.ApprovalRequested(request);
        yield return new ApprovalEvents.ApprovalGranted(apprId, "user:ops", "ok", request.ArgumentsHash, null, At, ops);
        yield return new ApprovalEvents.ApprovalRejected(apprId, "cli:root", "no", request.ArgumentsHash, At, ApprovalDecider.ControlSocket(0));
        yield return new ApprovalEvents.ApprovalTimedOut(apprId, At);
        yield return new ApprovalEvents.ApprovalExpired(apprId, "grant window elapsed", At);
        yield return new ApprovalEvents.GrantConsumed(apprId, true, At);
        yield return new ApprovalEvents.GrantConsumed(apprId, true, At, "akka.tcp://kruxos@10.0.0.1:7710/system/sharding/agent-session/3/builder/run-1#1234");
        yield return new ApprovalMessages.GetApproval(apprId);
        yield return new ApprovalMessages.CheckDeadline(apprId);
        yield return new ApprovalMessages.Held(ApprovalState.Empty.Apply(new ApprovalEvents.ApprovalRequested(request)));
        yield return new ApprovalMessages.Released(ApprovalState.Empty.Apply(new ApprovalEvents.ApprovalRequested(request)), false, "rejected");
        yield return new ApprovalMessages.GrantOffered(ApprovalState.Empty.Apply(new ApprovalEvents.ApprovalRequested(request))
            .Apply(new ApprovalEvents.ApprovalGranted(apprId, "cli:root", "ok", request.ArgumentsHash, At.AddMinutes(10), At)));
        var ok = ToolCallResult.Success(CapabilityName.Parse("system.time"), CoreJson.EmptyObject, Tier.Autonomous, 12);
        yield return new IdempotencyEvents.KeyStarted("kbr-0001abcd", "system__time|sha256:00", "system__time", At);
        yield return new IdempotencyEvents.KeyHeld("kbr-0001abcd", apprId, At);
        yield return new AgentSessionReplies.CallReleased(apprId);
        yield return new IdempotencyEvents.KeyResumed("kbr-0001abcd", At);
        yield return new IdempotencyEvents.KeyCompleted("kbr-0001abcd", ok, true, At);
        yield return new IdempotencyEvents.KeyInterrupted("kbr-0001abcd", At);
        yield return new IdempotencyEvents.KeyReleased("kbr-0001abcd", At);
        yield return new IdempotencyEntry("kbr-0001abcd", "system__time|sha256:00", "system__time", IdempotencyStatus.Held, At, apprId);
        foreach (var vault in VaultWireSamples.All()) yield return vault;
        yield return IdempotencyLedger.Empty
            .Apply(new IdempotencyEvents.KeyStarted("kbr-0001abcd", "fp", "system__time", At), IdempotencyLimits.Default)
            .Apply(new IdempotencyEvents.KeyCompleted("kbr-0001abcd", ok, true, At), IdempotencyLimits.Default);
        foreach (var sample in DomainStateSamples.All()) yield return sample;
        yield return new KruxOS.Actors.State.StateAreaMessages.WatchShared(agent, "sess-1", "jobs/");
        yield return new KruxOS.Actors.State.StateAreaMessages.GetSessionUsage(agent, "sess-1");
        yield return new KruxOS.Actors.State.StateAreaMessages.SessionUsage(10, 20, 1);
        yield return new KruxOS.Actors.State.StateAreaMessages.EndSessionState(agent, "sess-1");
        yield return new KruxOS.Actors.State.StateAreaMessages.SessionStateEnded(agent, "sess-1");
        yield return new KruxOS.Actors.State.StateAreaMessages.CheckpointSessionNow(agent, "sess-1");
        yield return new KruxOS.Actors.State.StateAreaMessages.SessionCheckpointed(3);
        yield return KruxOS.Actors.State.StateAreaMessages.ListLiveSessions.Instance;
        yield return new KruxOS.Actors.State.StateAreaMessages.LiveSessions([new KruxOS.Actors.State.StateAreaMessages.LiveSession(agent, "sess-1")]);
        foreach (var sample in PauseWireSamples.All()) yield return sample;
        foreach (var sample in ClusterWideWireSamples.All()) yield return sample;
        foreach (var sample in ProxyWireSamples.All()) yield return sample;
    }

    [Fact]
    public void Should_read_a_client_info_persisted_before_the_cli_attribution_existed()
    {
        var serializer = (KruxSerializer)Sys.Serialization.FindSerializerForType(typeof(ClientInfo));
        var withCli = new ClientInfo("claude-code", "2.1", "claude-code");
        Assert.Equal(withCli, serializer.FromBinary(serializer.ToBinary(withCli), serializer.Manifest(withCli)));
        var old = (ClientInfo)serializer.FromBinary(System.Text.Encoding.UTF8.GetBytes("""{"Name":"claude-code","Version":"2.1"}"""), serializer.Manifest(withCli));
        Assert.Null(old.Cli);
        Assert.Equal("claude-code", old.Initiating);
    }

    [Fact]
    public void Should_read_identity_and_approval_records_persisted_before_roles_and_deciders_existed_with_the_safe_defaults()
    {
        var serializer = (KruxSerializer)Sys.Serialization.FindSerializerForType(typeof(IdentityEvents.UserTokenCreated));
        T Read<T>(string json) => (T)serializer.FromBinary(System.Text.Encoding.UTF8.GetBytes(json), KruxSerializer.WireNames.Single(kv => kv.Value == typeof(T)).Key);

        // A token created before roles existed is a client token: it keeps making calls and cannot decide approvals.
        var created = Read<IdentityEvents.UserTokenCreated>("""{"Id":"u1","Label":"laptop","TokenHash":"h","At":"2026-11-25T10:00:00+00:00"}""");
        Assert.Equal(CredentialRole.Client, created.Role);
        var record = Read<UserTokenRecord>("""{"Id":"u1","Label":"laptop","Status":"active","TokenHash":"h","CreatedAt":"2026-11-25T10:00:00+00:00","RevokedAt":null}""");
        Assert.Equal(CredentialRole.Client, record.Role);
        Assert.Equal(CredentialRole.Client, IdentityState.Empty.Apply(created).UserTokens["u1"].Role);

        // A decision recorded before deciders existed reads back without one (its decided_by text stays).
        var granted = Read<ApprovalEvents.ApprovalGranted>(
            """{"ApprovalId":"appr-0123456789abcdef","DecidedBy":"cli:root","Reason":"ok","ArgumentsHash":"sha256:00","GrantUntil":null,"At":"2026-11-25T10:00:00+00:00"}""");
        Assert.Null(granted.Decider);
        Assert.Equal("cli:root", granted.DecidedBy);
    }

    [Fact]
    public void Should_round_trip_every_protocol_type_through_its_stable_manifest()
    {
        var serializer = (KruxSerializer)Sys.Serialization.FindSerializerForType(typeof(IdentityEvents.AgentCreated));
        var covered = new HashSet<Type>();
        foreach (var sample in Samples())
        {
            var manifest = serializer.Manifest(sample);
            var back = serializer.FromBinary(serializer.ToBinary(sample), manifest);
            Assert.Equal(sample.GetType(), back.GetType());
            Assert.Equal(JsonSerializer.Serialize(sample, sample.GetType()), JsonSerializer.Serialize(back, back.GetType()));
            covered.Add(sample.GetType());
        }
        // Types that carry actor references are covered below; everything else must have a sample.
        var withRefs = new[] { typeof(AgentSessionCommands.Attach), typeof(AgentSessionCommands.Invoke), typeof(ApprovalMessages.Hold), typeof(ApprovalMessages.ReleaseWaiter),
            typeof(AgentSessionReplies.CallHeld), typeof(AgentSessionReplies.CallAccepted) };
        var missing = KruxSerializer.WireNames.Values.Where(t => !covered.Contains(t) && !withRefs.Contains(t)).ToList();
        Assert.True(missing.Count == 0, "no round-trip sample for: " + string.Join(", ", missing.Select(t => t.Name)));
    }

    [Fact]
    public void Should_round_trip_messages_that_carry_actor_references()
    {
        var serializer = (KruxSerializer)Sys.Serialization.FindSerializerForType(typeof(AgentSessionCommands.Attach));
        var attach = new AgentSessionCommands.Attach(Pipeline.Agent, "sess-1", TestActor, new ClientInfo("x", "1"), At);
        var back = (AgentSessionCommands.Attach)serializer.FromBinary(serializer.ToBinary(attach), serializer.Manifest(attach));
        Assert.Equal(TestActor, back.Connection);
        var invoke = new AgentSessionCommands.Invoke(Pipeline.Agent, Pipeline.Call("system.time"), TestActor);
        var backInvoke = (AgentSessionCommands.Invoke)serializer.FromBinary(serializer.ToBinary(invoke), serializer.Manifest(invoke));
        Assert.Equal(TestActor, backInvoke.ReplyTo);
        Assert.Equal("system.time", backInvoke.Call.RequestedName);
        var hold = new ApprovalMessages.Hold(ApprovalId.Parse("appr-00aa"), TestActor, Pipeline.Agent, "process.run", "sha256:x", true);
        var backHold = (ApprovalMessages.Hold)serializer.FromBinary(serializer.ToBinary(hold), serializer.Manifest(hold));
        Assert.Equal(hold, backHold);
        var release = new ApprovalMessages.ReleaseWaiter(ApprovalId.Parse("appr-00aa"), TestActor);
        Assert.Equal(release, serializer.FromBinary(serializer.ToBinary(release), serializer.Manifest(release)));
        // A re-sent held call names its approval, and asks to hear which session holds it (ADR 0058).
        var reattach = new AgentSessionCommands.Invoke(Pipeline.Agent, Pipeline.Call("system.time") with { Reattach = ApprovalId.Parse("appr-00aa"), ReportHold = true }, TestActor);
        var backReattach = (AgentSessionCommands.Invoke)serializer.FromBinary(serializer.ToBinary(reattach), serializer.Manifest(reattach));
        Assert.Equal(ApprovalId.Parse("appr-00aa"), backReattach.Call.Reattach);
        Assert.True(backReattach.Call.ReportHold);
        var held = new AgentSessionReplies.CallHeld(ApprovalId.Parse("appr-00aa"), TestActor);
        Assert.Equal(held, serializer.FromBinary(serializer.ToBinary(held), serializer.Manifest(held)));
        // The session names itself to the submitter, and a held call leaving its hold says so (a lost node is then answered).
        var accepted = new AgentSessionReplies.CallAccepted(TestActor);
        Assert.Equal(accepted, serializer.FromBinary(serializer.ToBinary(accepted), serializer.Manifest(accepted)));
        var released = new AgentSessionReplies.CallReleased(ApprovalId.Parse("appr-00aa"));
        Assert.Equal(released, serializer.FromBinary(serializer.ToBinary(released), serializer.Manifest(released)));
    }

    [Fact]
    public void Should_use_the_kruxos_serializer_for_every_protocol_type_and_refuse_unknown_manifests()
    {
        foreach (var type in KruxSerializer.WireNames.Values)
            Assert.IsType<KruxSerializer>(Sys.Serialization.FindSerializerForType(type));
        var serializer = (KruxSerializer)Sys.Serialization.FindSerializerForType(typeof(ClientInfo));
        Assert.ThrowsAny<Exception>(() => serializer.FromBinary("{}"u8.ToArray(), "nope.v1"));
    }
}
