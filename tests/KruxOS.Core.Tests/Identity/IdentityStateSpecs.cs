using KruxOS.Core.Identity;
using Xunit;
using static KruxOS.Core.Identity.IdentityCommands;
using static KruxOS.Core.Identity.IdentityEvents;

namespace KruxOS.Core.Tests.Identity;

public sealed class IdentityStateSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private static readonly string H1 = TokenHashing.Hash(new string('a', 64));
    private static readonly string H2 = TokenHashing.Hash(new string('b', 64));

    private static IdentityState Run(IdentityState s, params IIdentityCommand[] commands)
    {
        foreach (var c in commands)
        {
            var (result, events) = s.ProcessCommand(c);
            Assert.True(result.IsOk, result.Message);
            s = events.Aggregate(s, (acc, e) => acc.Apply(e));
        }
        return s;
    }

    [Fact]
    public void Should_create_an_agent_whose_token_hash_resolves_to_it()
    {
        // arrange / act
        var s = Run(IdentityState.Empty, new CreateAgent("builder", "builds", H1, T0));
        // assert
        var (match, agent, _) = s.Resolve(H1);
        Assert.Equal(CredentialMatch.Agent, match);
        Assert.Equal("builder", agent!.Name);
        Assert.Equal(T0, agent.CreatedAt);
    }

    [Fact]
    public void Should_invalidate_the_old_token_when_an_agent_is_rotated()
    {
        var s = Run(IdentityState.Empty, new CreateAgent("builder", "", H1, T0), new RotateAgentToken("builder", H2, T0.AddMinutes(1)));
        Assert.Equal(CredentialMatch.Unknown, s.Resolve(H1).Match);
        Assert.Equal(CredentialMatch.Agent, s.Resolve(H2).Match);
    }

    [Fact]
    public void Should_report_a_revoked_agent_and_restore_it_only_with_a_new_token()
    {
        var s = Run(IdentityState.Empty, new CreateAgent("builder", "", H1, T0), new RevokeAgent("builder", T0.AddMinutes(1)));
        Assert.Equal(CredentialMatch.RevokedAgent, s.Resolve(H1).Match);
        s = Run(s, new RestoreAgent("builder", H2, T0.AddMinutes(2)));
        Assert.Equal(CredentialMatch.Unknown, s.Resolve(H1).Match);
        Assert.Equal(CredentialMatch.Agent, s.Resolve(H2).Match);
        Assert.Null(s.Agents["builder"].RevokedAt);
    }

    [Theory]
    [InlineData("default", IdentityResultCode.InvalidInput)]
    [InlineData("Bad Name", IdentityResultCode.InvalidInput)]
    [InlineData("", IdentityResultCode.InvalidInput)]
    [InlineData("builder", IdentityResultCode.AlreadyExists)]
    public void Should_refuse_an_agent_that_cannot_be_created(string name, IdentityResultCode code)
    {
        var s = Run(IdentityState.Empty, new CreateAgent("builder", "", H1, T0));
        var (result, events) = s.ProcessCommand(new CreateAgent(name, "", H2, T0));
        Assert.Equal(code, result.Code);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_refuse_illegal_lifecycle_transitions_without_events()
    {
        var s = Run(IdentityState.Empty, new CreateAgent("builder", "", H1, T0));
        Assert.Equal(IdentityResultCode.InvalidState, s.ProcessCommand(new RestoreAgent("builder", H2, T0)).Result.Code);
        Assert.Equal(IdentityResultCode.NotFound, s.ProcessCommand(new RevokeAgent("ghost", T0)).Result.Code);
        s = Run(s, new RevokeAgent("builder", T0));
        Assert.Equal(IdentityResultCode.InvalidState, s.ProcessCommand(new RevokeAgent("builder", T0)).Result.Code);
        Assert.Equal(IdentityResultCode.InvalidState, s.ProcessCommand(new RotateAgentToken("builder", H2, T0)).Result.Code);
    }

    [Fact]
    public void Should_manage_user_tokens_by_id_and_refuse_duplicate_active_labels()
    {
        var s = Run(IdentityState.Empty, new CreateUserToken("id-1", "laptop", H1, T0));
        Assert.Equal(CredentialMatch.User, s.Resolve(H1).Match);
        Assert.Equal(IdentityResultCode.AlreadyExists, s.ProcessCommand(new CreateUserToken("id-2", "laptop", H2, T0)).Result.Code);
        s = Run(s, new RevokeUserToken("id-1", T0.AddMinutes(1)));
        Assert.Equal(CredentialMatch.RevokedUser, s.Resolve(H1).Match);
        // a revoked label can be issued again
        s = Run(s, new CreateUserToken("id-2", "laptop", H2, T0.AddMinutes(2)));
        Assert.Equal(CredentialMatch.User, s.Resolve(H2).Match);
    }

    [Fact]
    public void Should_create_client_tokens_unless_an_operator_token_is_asked_for_and_keep_the_role_on_the_record()
    {
        var s = Run(IdentityState.Empty, new CreateUserToken("u-1", "claude-code", H1, T0), new CreateUserToken("u-2", "ops", H2, T0, CredentialRole.Operator));

        Assert.Equal(CredentialRole.Client, s.UserTokens["u-1"].Role);
        Assert.Equal(CredentialRole.Operator, s.UserTokens["u-2"].Role);
        Assert.Equal(CredentialRole.Operator, s.Resolve(H2).User!.Role);
        var (refused, none) = IdentityState.Empty.ProcessCommand(new CreateUserToken("u-3", "x", H1, T0, (CredentialRole)7));
        Assert.Equal(IdentityResultCode.InvalidInput, refused.Code);
        Assert.Empty(none);
    }

    [Fact]
    public void Should_rebuild_the_same_state_from_its_events()
    {
        var commands = new IIdentityCommand[]
        {
            new CreateAgent("a1", "p", H1, T0), new CreateUserToken("u", "l", TokenHashing.Hash("x"), T0),
            new RotateAgentToken("a1", H2, T0.AddSeconds(1)), new RevokeAgent("a1", T0.AddSeconds(2)),
        };
        var events = new List<IIdentityEvent>();
        var s = IdentityState.Empty;
        foreach (var c in commands)
        {
            var (_, e) = s.ProcessCommand(c);
            events.AddRange(e);
            s = e.Aggregate(s, (acc, x) => acc.Apply(x));
        }
        var replayed = events.Aggregate(IdentityState.Empty, (acc, e) => acc.Apply(e));
        Assert.Equal(s, replayed);
        Assert.Equal(CredentialMatch.RevokedAgent, replayed.Resolve(H2).Match);
    }

    [Fact]
    public void Should_not_carry_a_stale_index_into_a_copy()
    {
        var s = Run(IdentityState.Empty, new CreateAgent("a1", "", H1, T0));
        Assert.Equal(CredentialMatch.Agent, s.Resolve(H1).Match); // builds the index
        var rotated = s.Apply(new AgentTokenRotated("a1", H2, T0));
        Assert.Equal(CredentialMatch.Unknown, rotated.Resolve(H1).Match);
        Assert.Equal(CredentialMatch.Agent, rotated.Resolve(H2).Match);
    }
}

public sealed class TokenHashingSpecs
{
    [Fact]
    public void Should_issue_64_lower_case_hex_agent_tokens_that_never_repeat()
    {
        var tokens = Enumerable.Range(0, 200).Select(_ => TokenHashing.NewAgentToken()).ToList();
        Assert.All(tokens, t => Assert.True(TokenHashing.IsAgentTokenShape(t)));
        Assert.Equal(tokens.Count, tokens.Distinct().Count());
    }

    [Fact]
    public void Should_issue_user_tokens_with_the_krx_user_prefix()
    {
        var t = TokenHashing.NewUserToken();
        Assert.StartsWith("krx_user_", t);
        Assert.True(TokenHashing.IsUserTokenShape(t));
        Assert.False(TokenHashing.IsAgentTokenShape(t));
    }

    [Fact]
    public void Should_hash_with_sha256_hex()
    {
        Assert.Equal("2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", TokenHashing.Hash("hello"));
        Assert.True(TokenHashing.HashesEqual(TokenHashing.Hash("x"), TokenHashing.Hash("x")));
        Assert.False(TokenHashing.HashesEqual(TokenHashing.Hash("x"), TokenHashing.Hash("y")));
    }

    [Theory]
    [InlineData("--token=krx_user_abc", true)]
    [InlineData("7ac04fbe245eb3f44de2c0f7c39a2140669ce83008442be9d379f6cc4ff16923", true)]
    [InlineData("KEY=7ac04fbe245eb3f44de2c0f7c39a2140669ce83008442be9d379f6cc4ff16923", true)]
    [InlineData("--label", false)]
    [InlineData("7ac04fbe245eb3f44de2c0f7c39a2140669ce83008442be9d379f6cc4ff169234", false)]
    public void Should_recognise_credentials_in_argv(string arg, bool looks) => Assert.Equal(looks, TokenHashing.LooksLikeCredential(arg));
}
