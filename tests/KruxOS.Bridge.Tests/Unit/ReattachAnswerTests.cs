using System.Text.Json.Nodes;

namespace KruxOS.Bridge.Tests.Unit;

/// <summary>The bridge's reading of the gateway's <c>ApprovalReattach</c> answer, and the request it sends again (ADR 0058).</summary>
public sealed class ReattachAnswerTests
{
    private static string Answer(string errorJson, bool isError = true) => new JsonObject
    {
        ["jsonrpc"] = "2.0", ["id"] = 7,
        ["result"] = new JsonObject { ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = errorJson }), ["isError"] = isError },
    }.ToJsonString();

    private const string Reattach = """{"error":"ApprovalReattach","message":"m","recovery":[],"retryable":true,"retry_after":2,"context":{"request_id":"appr-0123456789abcdef","capability":"x.y"}}""";

    [Fact]
    public void Recognises_only_the_gateways_reattach_error_with_a_well_formed_approval_id()
    {
        Assert.Equal(("appr-0123456789abcdef", TimeSpan.FromSeconds(2)), ReattachAnswer.Of(Answer(Reattach)));
        Assert.Null(ReattachAnswer.Of(Answer(Reattach, isError: false)));
        Assert.Null(ReattachAnswer.Of(Answer(Reattach.Replace("ApprovalReattach", "ApprovalPending", StringComparison.Ordinal))));
        Assert.Null(ReattachAnswer.Of(Answer(Reattach.Replace("appr-0123456789abcdef", "../../etc/passwd", StringComparison.Ordinal))));
        Assert.Null(ReattachAnswer.Of(Answer("not json")));
        Assert.Null(ReattachAnswer.Of("""{"jsonrpc":"2.0","id":7,"error":{"code":-32000,"message":"ApprovalReattach"}}"""));
        Assert.Null(ReattachAnswer.Of("[]"));
    }

    [Fact]
    public void Caps_the_wait_the_gateway_asks_for()
    {
        Assert.Equal(ReattachAnswer.MaxDelay, ReattachAnswer.Of(Answer(Reattach.Replace("\"retry_after\":2", "\"retry_after\":1e9", StringComparison.Ordinal)))!.Value.Delay);
        Assert.Equal(TimeSpan.Zero, ReattachAnswer.Of(Answer(Reattach.Replace("\"retry_after\":2", "\"retry_after\":-5", StringComparison.Ordinal)))!.Value.Delay);
    }

    [Fact]
    public void The_request_sent_again_is_the_same_request_naming_the_approval_and_keeping_its_key()
    {
        const string request = """{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x__y","arguments":{"a":1},"_meta":{"kruxos/idempotency_key":"kbr-1234567890"}}}""";
        var again = JsonNode.Parse(ReattachAnswer.WithApproval(request, "appr-0123456789abcdef"))!;
        Assert.Equal(7, again["id"]!.GetValue<int>());
        Assert.Equal("tools/call", again["method"]!.GetValue<string>());
        Assert.Equal(1, again["params"]!["arguments"]!["a"]!.GetValue<int>());
        Assert.Equal("kbr-1234567890", again["params"]!["_meta"]!["kruxos/idempotency_key"]!.GetValue<string>());
        Assert.Equal("appr-0123456789abcdef", again["params"]!["_meta"]!["kruxos/approval_id"]!.GetValue<string>());
    }

    [Fact]
    public void A_rearmed_request_is_sent_again_on_the_same_connection_with_its_new_text()
    {
        var p = new PendingRequests(10);
        Assert.True(p.TryAdd("7", "tools/call", "{}", out _));
        Assert.True(p.ClaimForSend("7", 1));
        Assert.False(p.ClaimForSend("7", 1));
        Assert.True(p.Rearm("7", "{\"again\":true}"));
        Assert.True(p.ClaimForSend("7", 1));
        Assert.Equal("{\"again\":true}", p.Find("7")!.Text);
        Assert.Equal(1, p.Find("7")!.Reattaches);
        Assert.False(p.Rearm("8", "{}"));
    }
}
