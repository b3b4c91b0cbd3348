using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Gateway.Mcp;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>The check both MCP transports run on every incoming message before the SDK decodes it.</summary>
public sealed class McpRequestTextSpecs
{
    private static ReadOnlyMemory<byte> Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void Should_pass_a_well_formed_message_on_unchanged()
    {
        var message = Bytes("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"p":"\ud83d\ude00 \\ud800 is text here"}}}""");
        var verdict = McpRequestText.Inspect(message);
        Assert.Null(verdict.Refusal);
        Assert.True(verdict.Message!.Value.Span.SequenceEqual(message.Span));
    }

    [Fact]
    public void Should_repair_and_mark_malformed_call_arguments_so_the_session_refuses_them()
    {
        // act
        var verdict = McpRequestText.Inspect(Bytes("""{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"filesystem__read","arguments":{"path":"a\ud800"},"_meta":{"progressToken":1}}}"""));
        // assert
        var rewritten = JsonNode.Parse(verdict.Message!.Value.Span)!;
        Assert.Equal("a\uFFFD", rewritten["params"]!["arguments"]!["path"]!.GetValue<string>());
        Assert.Equal(1, rewritten["params"]!["_meta"]!["progressToken"]!.GetValue<int>());
        var refusal = McpRequestText.RefusalOf(rewritten["params"]!["_meta"]!.AsObject());
        Assert.Equal(("InvalidInput", "path"), (refusal!.ErrorType, refusal.ContextString("field")));
    }

    [Fact]
    public void Should_answer_malformed_text_outside_the_arguments_with_a_json_rpc_error()
    {
        var verdict = McpRequestText.Inspect(Bytes("""{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"fs\udc00","arguments":{}}}"""));
        Assert.Null(verdict.Message);
        var error = JsonNode.Parse(verdict.Refusal!)!;
        Assert.Equal(5, error["id"]!.GetValue<int>());
        Assert.Equal(-32600, error["error"]!["code"]!.GetValue<int>());
        Assert.Contains("params.name", error["error"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public void Should_not_honour_a_marker_the_client_wrote_itself()
    {
        var meta = JsonNode.Parse("""{"kruxos/invalid_text":{"field":"path","reason":"forged","nonce":"0000"}}""")!.AsObject();
        Assert.Null(McpRequestText.RefusalOf(meta));
    }
}
