using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Identity;
using KruxOS.Core.Sessions;
using Xunit;
using static KruxOS.Core.Approvals.ApprovalCommands;
using static KruxOS.Core.Approvals.ApprovalEvents;

namespace KruxOS.Core.Tests.Approvals;

/// <summary>
/// Separation of duties, decided inside the approval state machine: only an operator credential decides, and never a
/// call that its own principal (or a credential minted for it) requested — on every surface, because every surface
/// reaches the approval through <see cref="ApprovalStateExtensions.ProcessCommand"/>.
/// </summary>
public sealed class ApprovalSeparationSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 9, 0, 0, TimeSpan.Zero);
    private static readonly ApprovalId Id = ApprovalId.Parse("appr-00000000000000aa");

    private static UserTokenRecord Token(string id, string label, CredentialRole role) =>
        new(id, label, UserTokenStatus.Active, "hash-" + id, T0, null, role);

    // A call held on behalf of the user token "claude-code" (id tok-cc), in its own user-context session, as the bridge or cli-hook files it.
    private static ApprovalState HeldByUser(string label = "claude-code", string tokenId = "tok-cc", AgentName? acting = null)
    {
        var args = JsonDocument.Parse("""{"path":"notes.md","content":"x"}""").RootElement.Clone();
        var request = new ApprovalRequest(Id, Principal.ForUser(label), acting ?? AgentName.UserContext(tokenId), "hook-1", "filesystem.write",
            args, ApprovalArguments.Hash(args), "user.yaml#3", "rev-1", "a human reads every write", new ClientInfo("claude-code", "", "claude-code"), T0, T0.AddHours(1));
        return ApprovalState.Empty.Apply(new ApprovalRequested(request));
    }

    private static (ApprovalResult Result, System.Collections.Immutable.ImmutableArray<IApprovalEvent> Events) Decide(ApprovalState s, ApprovalDecider by, bool approve = true) =>
        s.ProcessCommand(new Decide(Id, approve, by, "", T0.AddMinutes(1), GrantUntil: T0.AddMinutes(11)));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Should_refuse_the_requesters_own_token_even_when_it_is_an_operator_token(bool approve)
    {
        // A token whose role says operator still cannot decide what its own principal asked for.
        var own = ApprovalDecider.UserApi(Token("tok-cc", "claude-code", CredentialRole.Operator), minted: false);

        var (r, events) = Decide(HeldByUser(), own, approve);

        Assert.Equal(ApprovalResultCode.Forbidden, r.Code);
        Assert.Equal(403, r.HttpStatus);
        Assert.Contains("separation of duties", r.Message);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_refuse_a_credential_minted_for_the_requesting_token()
    {
        var minted = ApprovalDecider.UserApi(Token("tok-cc", "claude-code", CredentialRole.Client), minted: true);

        var (r, events) = Decide(HeldByUser(), minted);

        Assert.Equal(ApprovalResultCode.Forbidden, r.Code);
        Assert.Equal(CredentialRole.Client, minted.Role);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_refuse_any_client_credential_even_for_a_call_someone_else_requested()
    {
        var agentCall = HeldByUser() with { Request = HeldByUser().Request! with { Principal = Principal.ForAgent(AgentName.Parse("builder")), Agent = AgentName.Parse("builder") } };
        var client = ApprovalDecider.UserApi(Token("tok-x", "laptop", CredentialRole.Client), minted: false);

        var (r, events) = Decide(agentCall, client);

        Assert.Equal(ApprovalResultCode.Forbidden, r.Code);
        Assert.Contains("client credential", r.Message);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_refuse_the_requesting_principal_when_it_acted_for_a_named_agent()
    {
        // user token + X-KruxOS-Agent: the session is the agent's, the principal is still the user's
        var held = HeldByUser(acting: AgentName.Parse("builder"));
        var own = ApprovalDecider.UserApi(Token("tok-cc", "claude-code", CredentialRole.Operator), minted: false);

        Assert.Equal(ApprovalResultCode.Forbidden, Decide(held, own).Result.Code);
    }

    [Fact]
    public void Should_refuse_a_reissued_token_under_the_requesters_label()
    {
        // The label is the principal: a new token under the same label stands for the same principal.
        var reissued = ApprovalDecider.UserApi(Token("tok-new", "claude-code", CredentialRole.Operator), minted: false);

        Assert.Equal(ApprovalResultCode.Forbidden, Decide(HeldByUser(), reissued).Result.Code);
    }

    [Fact]
    public void Should_let_another_operator_decide_and_record_who_with_which_credential_role_and_surface()
    {
        var ops = ApprovalDecider.UserApi(Token("tok-ops", "ops", CredentialRole.Operator), minted: false);

        var (r, events) = Decide(HeldByUser(), ops);

        Assert.True(r.IsOk, r.Message);
        var granted = Assert.IsType<ApprovalGranted>(events[0]);
        Assert.Equal("user:ops", granted.DecidedBy);
        Assert.Equal(ops, granted.Decider);
        var after = HeldByUser().ApplyAll(events);
        Assert.Equal(ops, after.Decision!.Decider);
        Assert.Equal(DecisionSurface.UserApi, after.Decision.Decider!.Surface);
        Assert.Equal(DeciderCredential.UserToken, after.Decision.Decider.Credential);
    }

    [Theory]
    [InlineData(0u, "cli:root")]
    [InlineData(1000u, "cli:uid-1000")]
    public void Should_let_the_control_socket_decide_as_an_operator_named_by_its_uid(uint uid, string decidedBy)
    {
        var (r, events) = Decide(HeldByUser(), ApprovalDecider.ControlSocket(uid), approve: false);

        Assert.True(r.IsOk, r.Message);
        var rejected = Assert.IsType<ApprovalRejected>(Assert.Single(events));
        Assert.Equal(decidedBy, rejected.DecidedBy);
        Assert.Equal(DecisionSurface.ControlSocket, rejected.Decider!.Surface);
        Assert.Equal(CredentialRole.Operator, rejected.Decider.Role);
    }

    [Fact]
    public void Should_refuse_before_looking_at_the_state_so_a_forbidden_decider_changes_nothing_and_learns_nothing()
    {
        var client = ApprovalDecider.UserApi(Token("tok-cc", "claude-code", CredentialRole.Client), minted: false);
        var decided = HeldByUser().ApplyAll(Decide(HeldByUser(), ApprovalDecider.ControlSocket(0)).Events);
        var lapsed = HeldByUser();

        // already decided: still 403, not 409 with the status
        var (late, lateEvents) = Decide(decided, client);
        Assert.Equal(ApprovalResultCode.Forbidden, late.Code);
        Assert.Null(late.Status);
        Assert.Empty(lateEvents);

        // past the deadline: no timed_out event is written on a forbidden decider's behalf
        var (past, pastEvents) = lapsed.ProcessCommand(new Decide(Id, true, client, "", T0.AddHours(2), GrantUntil: T0.AddHours(3)));
        Assert.Equal(ApprovalResultCode.Forbidden, past.Code);
        Assert.Empty(pastEvents);
    }
}
