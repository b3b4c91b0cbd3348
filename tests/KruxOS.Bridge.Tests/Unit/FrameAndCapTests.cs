using System.Text;
using System.Text.Json.Nodes;

namespace KruxOS.Bridge.Tests.Unit;

/// <summary>JSON-RPC classification and the result cap (always valid JSON, within the cap).</summary>
public sealed class FrameAndCapTests
{
    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/list"}""", FrameKind.Request, "1", "tools/list")]
    [InlineData("""{"jsonrpc":"2.0","id":"a","method":"x"}""", FrameKind.Request, "\"a\"", "x")]
    [InlineData("""{"jsonrpc":"2.0","method":"notifications/initialized"}""", FrameKind.Notification, null, "notifications/initialized")]
    [InlineData("""{"jsonrpc":"2.0","id":3,"result":{}}""", FrameKind.Response, "3", null)]
    [InlineData("""{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}""", FrameKind.Response, null, null)]
    [InlineData("""[{"jsonrpc":"2.0","id":1,"method":"a"}]""", FrameKind.Other, null, null)]
    [InlineData("""{"jsonrpc":"2.0","id":1}""", FrameKind.Other, "1", null)]
    [InlineData("""{not json""", FrameKind.Invalid, null, null)]
    public void Frames_are_classified(string text, FrameKind kind, string? id, string? method)
    {
        var f = JsonRpcFrame.Parse(text);
        Assert.Equal(kind, f.Kind);
        Assert.Equal(id, f.IdKey);
        Assert.Equal(method, f.Method);
        Assert.Equal(text, f.Text);
    }

    [Fact]
    public void Error_responses_keep_the_raw_id()
    {
        var e = JsonNode.Parse(JsonRpcFrame.ErrorResponse("\"x-1\"", -32000, "boom \"quoted\""))!;
        Assert.Equal("x-1", e["id"]!.GetValue<string>());
        Assert.Equal(-32000, e["error"]!["code"]!.GetValue<int>());
        Assert.Null(JsonNode.Parse(JsonRpcFrame.ErrorResponse(null, -32700, "p"))!["id"]);
    }

    private static string ToolResult(object id, string text, bool isError) =>
        new JsonObject
        {
            ["jsonrpc"] = "2.0",
            ["id"] = JsonValue.Create(id),
            ["result"] = new JsonObject
            {
                ["content"] = new JsonArray(new JsonObject { ["type"] = "text", ["text"] = text }),
                ["structuredContent"] = new JsonObject { ["blob"] = text },
                ["isError"] = isError,
            },
        }.ToJsonString();

    [Fact]
    public void Messages_within_the_cap_are_unchanged()
    {
        var text = ToolResult(1, "small", false);
        Assert.Same(text, ResultCap.Apply(text, Encoding.UTF8.GetByteCount(text), "tools/call", 4096));
    }

    [Theory]
    [InlineData("ascii", false)]
    [InlineData("mixed", true)]
    public void An_oversized_tool_result_becomes_valid_truncated_json_within_the_cap(string alphabet, bool isError)
    {
        var unit = alphabet == "ascii" ? "abcdefghij" : "é\"<\\\n😀x";
        var big = string.Concat(Enumerable.Repeat(unit, 2 * 1024 * 1024 / unit.Length));
        var text = ToolResult("call-7", big, isError);
        const int cap = 1024 * 1024;
        var output = ResultCap.Apply(text, Encoding.UTF8.GetByteCount(text), "tools/call", cap)!;

        Assert.True(Encoding.UTF8.GetByteCount(output) <= cap, $"{Encoding.UTF8.GetByteCount(output)} > {cap}");
        var node = JsonNode.Parse(output)!; // valid JSON
        Assert.Equal("2.0", node["jsonrpc"]!.GetValue<string>());
        Assert.Equal("call-7", node["id"]!.GetValue<string>());
        Assert.Equal(isError, node["result"]!["isError"]!.GetValue<bool>());
        Assert.Null(node["result"]!["structuredContent"]);
        var kept = node["result"]!["content"]![0]!["text"]!.GetValue<string>();
        Assert.Contains("[truncated]", kept);
        var prefix = kept[..kept.IndexOf("\n[truncated]", StringComparison.Ordinal)];
        Assert.StartsWith(prefix, big, StringComparison.Ordinal);
        Assert.True(prefix.Length > cap / 8, "keeps a useful part of the text");
    }

    [Fact]
    public void An_oversized_error_keeps_its_code()
    {
        var text = new JsonObject
        {
            ["jsonrpc"] = "2.0", ["id"] = 4,
            ["error"] = new JsonObject { ["code"] = -32001, ["message"] = new string('m', 10_000), ["data"] = new string('d', 10_000) },
        }.ToJsonString();
        var node = JsonNode.Parse(ResultCap.Apply(text, text.Length, "tools/call", 4096)!)!;
        Assert.Equal(4, node["id"]!.GetValue<int>());
        Assert.Equal(-32001, node["error"]!["code"]!.GetValue<int>());
        Assert.EndsWith("[truncated]", node["error"]!["message"]!.GetValue<string>());
        Assert.Null(node["error"]!["data"]);
    }

    [Fact]
    public void Other_oversized_results_become_an_error_and_notifications_are_dropped()
    {
        var list = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 2, ["result"] = new JsonObject { ["tools"] = new JsonArray(new string('t', 10_000)) } }.ToJsonString();
        var node = JsonNode.Parse(ResultCap.Apply(list, list.Length, "tools/list", 4096)!)!;
        Assert.Equal(2, node["id"]!.GetValue<int>());
        Assert.Equal(ResultCap.ResultTooLargeCode, node["error"]!["code"]!.GetValue<int>());
        Assert.Contains("[truncated]", node["error"]!["message"]!.GetValue<string>());

        var note = new JsonObject { ["jsonrpc"] = "2.0", ["method"] = "notifications/message", ["params"] = new JsonObject { ["d"] = new string('x', 10_000) } }.ToJsonString();
        Assert.Null(ResultCap.Apply(note, note.Length, null, 4096));
    }

    [Fact]
    public void Cut_never_splits_a_surrogate_pair()
    {
        Assert.Equal("a", ResultCap.Cut("a😀", 4));
        Assert.Equal("a😀", ResultCap.Cut("a😀", 5));
        Assert.Equal("", ResultCap.Cut("é", 1));
    }
}
