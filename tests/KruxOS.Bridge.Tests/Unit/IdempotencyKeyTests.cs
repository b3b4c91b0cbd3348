using System.Text.Json.Nodes;

namespace KruxOS.Bridge.Tests.Unit;

public sealed class IdempotencyKeyTests
{
    [Fact]
    public void A_tools_call_gets_a_random_key_in_params_meta_and_keeps_everything_else()
    {
        var frame = JsonRpcFrame.Parse("""{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"system__time","arguments":{"timezone":"UTC"},"_meta":{"progressToken":3}}}""");
        var stamped = IdempotencyKey.Stamp(frame);
        var key = IdempotencyKey.Of(stamped.Text);
        Assert.Matches("^kbr-[0-9a-f]{32}$", key);
        var root = JsonNode.Parse(stamped.Text)!;
        Assert.Equal("system__time", root["params"]!["name"]!.GetValue<string>());
        Assert.Equal("UTC", root["params"]!["arguments"]!["timezone"]!.GetValue<string>());
        Assert.Equal(3, root["params"]!["_meta"]!["progressToken"]!.GetValue<int>());
        Assert.Equal(frame.IdKey, stamped.IdKey);
        Assert.NotEqual(key, IdempotencyKey.Of(IdempotencyKey.Stamp(frame).Text)); // one key per request
    }

    [Fact]
    public void A_call_without_params_or_meta_gets_both_and_a_client_key_is_kept()
    {
        Assert.NotNull(IdempotencyKey.Of(IdempotencyKey.Stamp(JsonRpcFrame.Parse("""{"jsonrpc":"2.0","id":1,"method":"tools/call"}""")).Text));
        var own = JsonRpcFrame.Parse("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","_meta":{"kruxos/idempotency_key":"client-key-1"}}}""");
        Assert.Same(own, IdempotencyKey.Stamp(own));
    }

    [Fact]
    public void The_stamped_text_is_what_is_kept_for_re_sending()
    {
        var pending = new PendingRequests(4);
        var stamped = IdempotencyKey.Stamp(JsonRpcFrame.Parse(BridgeProcessCall()));
        Assert.True(pending.TryAdd(stamped.IdKey!, "tools/call", stamped.Text, out _));
        var resent = Assert.Single(pending.ClaimUnsent(2));
        Assert.Equal(IdempotencyKey.Of(stamped.Text), IdempotencyKey.Of(resent.Text));
    }

    private static string BridgeProcessCall() => """{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"system__time","arguments":{}}}""";
}
