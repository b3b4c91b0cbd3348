using KruxOS.Core.Network;
using Xunit;
using static KruxOS.Core.Tests.Network.EgressPolicySpecs;

namespace KruxOS.Core.Tests.Network;

/// <summary>Redirects: at most 10 hops, each re-checked, no downgrade, no credential to another origin (ADR 0034).</summary>
public sealed class RedirectPolicySpecs
{
    private static readonly EgressAllowlist Policy = Allow(Layer("org.yaml",
        "d:api.example.com", "d:www.example.com", "d:login.example.com:8443", "a:127.0.0.1:9000"));

    private static EgressTarget Target(string url)
    {
        Assert.True(EgressPolicy.TryParseTarget(url, out var t, out var refusal), refusal?.Reason);
        return t;
    }

    private static RedirectDecision Hop(string from, int status, string? location, string method = "GET", int followed = 0, bool follow = true, string? origin = null) =>
        RedirectPolicy.Decide(Target(origin ?? from), Target(from), method, status, location, followed, Policy, follow);

    [Theory]
    [InlineData(200)]
    [InlineData(204)]
    [InlineData(300)]
    [InlineData(304)]
    [InlineData(305)]
    [InlineData(404)]
    public void Should_return_responses_that_are_not_followable_redirects(int status) =>
        Assert.Equal(RedirectAction.Return, Hop("https://api.example.com/", status, "https://www.example.com/").Action);

    [Fact]
    public void Should_return_a_redirect_without_location_or_when_following_is_off()
    {
        Assert.Equal(RedirectAction.Return, Hop("https://api.example.com/", 302, null).Action);
        Assert.Equal(RedirectAction.Return, Hop("https://api.example.com/", 302, "").Action);
        Assert.Equal(RedirectAction.Return, Hop("https://api.example.com/", 302, "https://www.example.com/", follow: false).Action);
    }

    [Theory]
    [InlineData("https://api.example.com/a", 302, "/b", "https://api.example.com/b")]
    [InlineData("https://api.example.com/a/b", 301, "../c?x=1", "https://api.example.com/c?x=1")]
    [InlineData("https://api.example.com/a", 307, "https://www.example.com/z", "https://www.example.com/z")]
    [InlineData("https://api.example.com/a", 308, "//www.example.com/z", "https://www.example.com/z")]
    [InlineData("http://api.example.com/a", 302, "https://www.example.com/", "https://www.example.com/")]
    [InlineData("https://api.example.com/", 303, "https://login.example.com:8443/", "https://login.example.com:8443/")]
    public void Should_follow_to_an_allowed_location(string from, int status, string location, string expected)
    {
        var d = Hop(from, status, location);
        Assert.Equal(RedirectAction.Follow, d.Action);
        Assert.Equal(expected, d.Next!.Uri.AbsoluteUri);
    }

    [Theory]
    [InlineData("https://evil.example/", "DomainNotAllowed")]
    [InlineData("https://api.example.com:8443/", "DomainNotAllowed")]
    [InlineData("https://127.0.0.1:9001/", "DomainNotAllowed")]
    [InlineData("https://169.254.169.254/latest/meta-data/", "DomainNotAllowed")]
    [InlineData("https://10.0.0.1/", "DomainNotAllowed")]
    [InlineData("https://[::ffff:127.0.0.1]:9001/", "DomainNotAllowed")]
    [InlineData("file:///etc/passwd", "InvalidUrl")]
    [InlineData("ftp://api.example.com/", "InvalidUrl")]
    [InlineData("https://user:pw@api.example.com/", "InvalidUrl")]
    [InlineData("http://www.example.com/", "RequestFailed")] // https → http downgrade
    public void Should_refuse_a_location_the_first_request_could_not_have_gone_to(string location, string error)
    {
        var d = Hop("https://api.example.com/", 302, location);
        Assert.Equal(RedirectAction.Refuse, d.Action);
        Assert.Equal(error, d.Error!.ErrorType);
    }

    [Fact]
    public void Should_re_check_each_hop_so_a_redirect_to_an_allowed_name_still_needs_its_address_checked()
    {
        var d = Hop("https://api.example.com/", 302, "https://www.example.com/");
        Assert.Equal(RedirectAction.Follow, d.Action);
        // The name passed; the caller resolves it and decides the addresses like the first request.
        var resolvedToLoopback = EgressPolicy.Decide(d.Next!, [System.Net.IPAddress.Loopback], Policy);
        Assert.False(resolvedToLoopback.Allowed);
    }

    [Fact]
    public void Should_follow_at_most_ten_redirects()
    {
        for (var followed = 0; followed < RedirectPolicy.MaxRedirects; followed++)
            Assert.Equal(RedirectAction.Follow, Hop("https://api.example.com/", 302, "/next", followed: followed).Action);
        var eleventh = Hop("https://api.example.com/", 302, "/next", followed: RedirectPolicy.MaxRedirects);
        Assert.Equal(RedirectAction.Refuse, eleventh.Action);
        Assert.Equal("RequestFailed", eleventh.Error!.ErrorType);
        Assert.Contains("10 redirects", eleventh.Error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(301, "POST", "GET", false)]
    [InlineData(302, "POST", "GET", false)]
    [InlineData(302, "PUT", "PUT", false)]
    [InlineData(303, "POST", "GET", false)]
    [InlineData(303, "DELETE", "GET", false)]
    [InlineData(303, "HEAD", "HEAD", false)]
    [InlineData(307, "POST", "POST", true)]
    [InlineData(308, "PATCH", "PATCH", true)]
    public void Should_rewrite_the_method_as_browsers_and_curl_do(int status, string method, string next, bool keepBody)
    {
        var d = Hop("https://api.example.com/", status, "/x", method);
        Assert.Equal(next, d.Method);
        Assert.Equal(keepBody, d.KeepBody);
    }

    [Fact]
    public void Should_keep_a_credential_only_on_the_origin_it_was_meant_for()
    {
        Assert.True(Hop("https://api.example.com/a", 302, "/b").KeepCredential);
        Assert.False(Hop("https://api.example.com/a", 302, "https://www.example.com/").KeepCredential);
        // Back on the origin after a detour: the origin is that of the first request.
        Assert.True(Hop("https://www.example.com/", 302, "https://api.example.com/back", origin: "https://api.example.com/").KeepCredential);
        // Same host, other port: another origin.
        Assert.False(Hop("https://login.example.com:8443/", 302, "https://login.example.com/", origin: "https://login.example.com:8443/").KeepCredential);
    }
}
