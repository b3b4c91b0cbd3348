using KruxOS.Core.Identity;
using Xunit;
using static KruxOS.Core.Identity.IdentityCommands;

namespace KruxOS.Core.Tests.Identity;

public sealed class CredentialMintingSpecs
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 25, 10, 0, 0, TimeSpan.Zero);
    private const uint Own = 1000;
    private static readonly MintPolicy Policy = new(true, Own, [4242]);

    private static IdentityState With(params IIdentityCommand[] commands)
    {
        var s = IdentityState.Empty;
        foreach (var c in commands)
        {
            var (result, events) = s.ProcessCommand(c);
            Assert.True(result.IsOk, result.Message);
            s = events.Aggregate(s, (acc, e) => acc.Apply(e));
        }
        return s;
    }

    private static readonly IdentityState Tokens = With(
        new CreateUserToken("u-1", "claude-code", TokenHashing.Hash("krx_user_one"), T0),
        new CreateUserToken("u-2", "old", TokenHashing.Hash("krx_user_two"), T0),
        new RevokeUserToken("u-2", T0));

    [Theory]
    [InlineData(0u)]
    [InlineData(Own)]
    [InlineData(4242u)]
    public void Should_mint_for_root_the_gateways_own_uid_and_configured_uids(uint uid)
    {
        var d = CredentialMinting.Decide(Tokens, Policy, uid, "claude-code");
        Assert.Equal(MintOutcome.Mint, d.Outcome);
        Assert.Equal("u-1", d.UserToken!.Id);
    }

    [Fact]
    public void Should_refuse_any_other_uid_before_looking_at_the_label()
    {
        Assert.Equal(MintOutcome.Forbidden, CredentialMinting.Decide(Tokens, Policy, 1001, "claude-code").Outcome);
        // Same answer for a label that does not exist: the refusal reveals nothing about labels.
        Assert.Equal(MintOutcome.Forbidden, CredentialMinting.Decide(Tokens, Policy, 1001, "nope").Outcome);
    }

    [Fact]
    public void Should_never_mint_for_an_operator_token_so_nothing_minted_can_decide_an_approval()
    {
        var s = With(new CreateUserToken("u-op", "ops", TokenHashing.Hash("krx_user_ops"), T0, CredentialRole.Operator));

        var d = CredentialMinting.Decide(s, Policy, 0, "ops");

        Assert.Equal(MintOutcome.Locked, d.Outcome);
        Assert.Null(d.UserToken);
        Assert.Contains("operator token", d.Message);
    }

    [Fact]
    public void Should_answer_missing_for_an_unknown_label_and_locked_for_a_revoked_one()
    {
        Assert.Equal(MintOutcome.Missing, CredentialMinting.Decide(Tokens, Policy, Own, "nope").Outcome);
        Assert.Equal(MintOutcome.Locked, CredentialMinting.Decide(Tokens, Policy, Own, "old").Outcome);
    }

    [Fact]
    public void Should_use_the_active_token_when_a_label_was_revoked_and_issued_again()
    {
        var s = With(
            new CreateUserToken("u-1", "cli", TokenHashing.Hash("krx_user_one"), T0),
            new RevokeUserToken("u-1", T0),
            new CreateUserToken("u-3", "cli", TokenHashing.Hash("krx_user_three"), T0));
        var d = CredentialMinting.Decide(s, Policy, Own, "cli");
        Assert.Equal(MintOutcome.Mint, d.Outcome);
        Assert.Equal("u-3", d.UserToken!.Id);
    }

    [Fact]
    public void Should_answer_locked_for_every_existing_label_when_minting_is_off()
    {
        var off = Policy with { Enabled = false };
        Assert.Equal(MintOutcome.Locked, CredentialMinting.Decide(Tokens, off, Own, "claude-code").Outcome);
        Assert.Equal(MintOutcome.Missing, CredentialMinting.Decide(Tokens, off, Own, "nope").Outcome);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("a\nb")]
    public void Should_refuse_malformed_labels(string? label) =>
        Assert.Equal(MintOutcome.Invalid, CredentialMinting.Decide(Tokens, Policy, Own, label).Outcome);

    [Fact]
    public void Should_shape_session_tokens_apart_from_user_and_agent_tokens()
    {
        var t = TokenHashing.NewSessionToken();
        Assert.True(TokenHashing.IsSessionTokenShape(t));
        Assert.False(TokenHashing.IsUserTokenShape(t));
        Assert.False(TokenHashing.IsAgentTokenShape(t));
        Assert.True(TokenHashing.LooksLikeCredential("--x=" + t));
        Assert.NotEqual(t, TokenHashing.NewSessionToken());
    }

    [Fact]
    public void Should_parse_only_mint_requests_with_a_string_label()
    {
        Assert.True(AuthSocketProtocol.TryParseRequest(AuthSocketProtocol.MintRequest("claude-code"), out var label, out _));
        Assert.Equal("claude-code", label);
        foreach (var bad in new[] { "", "[]", "{\"method\":\"mint\"}", "{\"method\":\"mint\",\"label\":5}", "{\"method\":\"other\",\"label\":\"x\"}" })
            Assert.False(AuthSocketProtocol.TryParseRequest(bad, out _, out _), bad);
    }
}
