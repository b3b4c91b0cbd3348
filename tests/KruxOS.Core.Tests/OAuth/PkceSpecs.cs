using Xunit;
using KruxOS.Core.OAuth;

namespace KruxOS.Core.Tests.OAuth;

public sealed class PkceSpecs
{
    // RFC 7636 Appendix B: the example's 32 octets, verifier and S256 challenge.
    private static readonly byte[] RfcOctets =
        [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121];

    [Fact]
    public void Should_match_the_rfc_7636_example()
    {
        var verifier = Pkce.VerifierFrom(RfcOctets);
        Assert.Equal("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", verifier);
        Assert.Equal("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", Pkce.ChallengeFor(verifier));
    }

    [Fact]
    public void Should_create_distinct_well_formed_verifiers()
    {
        var a = Pkce.NewVerifier();
        var b = Pkce.NewVerifier();
        Assert.NotEqual(a, b);
        Assert.True(Pkce.IsWellFormedVerifier(a));
        Assert.Equal(43, a.Length);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("short")]
    [InlineData("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjX")] // 42 characters
    [InlineData("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk+")] // '+' is not unreserved
    [InlineData("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk=")]
    [InlineData("dBjftJeZ4CVP mB92K27uhbUJU1p1r_wW1gFWFOEjXkk")]
    public void Should_refuse_malformed_verifiers(string? verifier)
    {
        Assert.False(Pkce.IsWellFormedVerifier(verifier));
        Assert.False(Pkce.Verify(Pkce.Method, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", verifier));
    }

    [Fact]
    public void Should_refuse_too_little_entropy() => Assert.Throws<ArgumentException>(() => Pkce.VerifierFrom(new byte[31]));

    [Fact]
    public void Should_verify_only_the_matching_verifier_with_s256()
    {
        var verifier = Pkce.NewVerifier();
        var challenge = Pkce.ChallengeFor(verifier);
        Assert.True(Pkce.Verify("S256", challenge, verifier));
        Assert.False(Pkce.Verify("S256", challenge, Pkce.NewVerifier()));
        Assert.False(Pkce.Verify("plain", verifier, verifier)); // plain is never accepted
        Assert.False(Pkce.Verify("S256", null, verifier));
        Assert.False(Pkce.Verify("S256", challenge + "A", verifier));
    }

    [Fact]
    public void Should_build_an_authorization_url_with_pkce_and_offline_access()
    {
        var url = AuthorizationRequest.Build(new Uri("https://auth.example/o/oauth2/v2/auth"), "client id&x=1", new Uri("https://dash.example:7800/api/oauth/gmail/callback"),
            ["scope.a", "scope.b"], "st ate", "chal");
        var q = System.Web.HttpUtility.ParseQueryString(url.Query);
        Assert.Equal("code", q["response_type"]);
        Assert.Equal("client id&x=1", q["client_id"]); // escaped: no parameter smuggling
        Assert.Null(q["x"]);
        Assert.Equal("https://dash.example:7800/api/oauth/gmail/callback", q["redirect_uri"]);
        Assert.Equal("scope.a scope.b", q["scope"]);
        Assert.Equal("st ate", q["state"]);
        Assert.Equal("chal", q["code_challenge"]);
        Assert.Equal("S256", q["code_challenge_method"]);
        Assert.Equal("offline", q["access_type"]);
    }
}
