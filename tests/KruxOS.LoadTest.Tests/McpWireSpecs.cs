using System.Text;
using System.Text.Json;
using KruxOS.LoadTest.Clients;
using KruxOS.LoadTest.Stats;
using Xunit;

namespace KruxOS.LoadTest.Tests;

public sealed class McpWireSpecs
{
    private static CallOutcome Classify(string json) => McpWire.Classify(Encoding.UTF8.GetBytes(json));

    [Fact]
    public void Should_classify_success_when_result_has_no_error_flag() =>
        Assert.Equal(CallOutcome.Ok, Classify("""{"jsonrpc":"2.0","id":3,"result":{"content":[{"type":"text","text":"{}"}]}}"""));

    [Fact]
    public void Should_classify_json_rpc_error_with_its_code_when_error_member_is_present() =>
        Assert.Equal(new CallOutcome(OutcomeKind.JsonRpcError, "-32600"),
            Classify("""{"error":{"code":-32600,"message":"Session not initialized"},"id":2,"jsonrpc":"2.0"}"""));

    [Fact]
    public void Should_classify_tool_error_with_its_type_when_is_error_is_true() =>
        Assert.Equal(new CallOutcome(OutcomeKind.ToolError, "InvalidTimezone"),
            Classify("""{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"{\"error\":\"InvalidTimezone\",\"message\":\"no\"}"}]}}"""));

    [Fact]
    public void Should_classify_unstructured_tool_error_when_text_is_not_json() =>
        Assert.Equal(new CallOutcome(OutcomeKind.ToolError, "unstructured"),
            Classify("""{"jsonrpc":"2.0","id":1,"result":{"isError":true,"content":[{"type":"text","text":"boom"}]}}"""));

    [Theory]
    [InlineData("not json")]
    [InlineData("[1,2]")]
    [InlineData("""{"jsonrpc":"2.0","id":1}""")]
    public void Should_classify_transport_error_when_reply_is_unusable(string json) =>
        Assert.Equal(OutcomeKind.TransportError, Classify(json).Kind);

    [Fact]
    public void Should_render_a_valid_tools_call_with_the_id_when_using_a_template()
    {
        // arrange
        var template = new McpWire.ToolCallTemplate("system__time", """{"timezone":"Europe/Berlin"}""");
        // act
        using var doc = JsonDocument.Parse(template.Render(1234567));
        // assert
        var root = doc.RootElement;
        Assert.Equal("2.0", root.GetProperty("jsonrpc").GetString());
        Assert.Equal(1234567, root.GetProperty("id").GetInt64());
        Assert.Equal("tools/call", root.GetProperty("method").GetString());
        Assert.Equal("system__time", root.GetProperty("params").GetProperty("name").GetString());
        Assert.Equal("Europe/Berlin", root.GetProperty("params").GetProperty("arguments").GetProperty("timezone").GetString());
    }

    [Fact]
    public void Should_refuse_a_template_when_arguments_are_not_json() =>
        Assert.ThrowsAny<JsonException>(() => new McpWire.ToolCallTemplate("noop", "{oops"));

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":42,"result":{}}""", true, 42)]
    [InlineData("""{"result":{"id":7},"jsonrpc":"2.0","id":8}""", true, 8)]
    [InlineData("""{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}""", false, 0)]
    [InlineData("""{"jsonrpc":"2.0","id":"abc","method":"ping"}""", false, 0)]
    public void Should_read_the_top_level_numeric_id_when_present(string json, bool found, long id)
    {
        // act
        var ok = McpWire.TryReadId(Encoding.UTF8.GetBytes(json), out var got);
        // assert
        Assert.Equal(found, ok);
        Assert.Equal(id, got);
    }

    [Fact]
    public async Task Should_return_the_matching_reply_when_an_event_stream_carries_other_events_first()
    {
        // arrange
        var sse = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":{}}\n\n"
                  + ": comment\nevent: message\nid: 1\ndata: {\"jsonrpc\":\"2.0\",\"id\":5,\n"
                  + "data: \"result\":{\"isError\":true,\"content\":[{\"type\":\"text\",\"text\":\"{\\\"error\\\":\\\"Timeout\\\"}\"}]}}\n\n";
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes(sse));
        // act
        var outcome = await StreamableHttpMcpClient.ReadEventStreamAsync(stream, 5, TestContext.Current.CancellationToken);
        // assert
        Assert.Equal(new CallOutcome(OutcomeKind.ToolError, "Timeout"), outcome);
    }

    [Fact]
    public async Task Should_report_transport_error_when_an_event_stream_ends_without_the_reply()
    {
        // arrange
        using var stream = new MemoryStream(Encoding.UTF8.GetBytes("data: {\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}\n\n"));
        // act
        var outcome = await StreamableHttpMcpClient.ReadEventStreamAsync(stream, 5, TestContext.Current.CancellationToken);
        // assert
        Assert.Equal(CallOutcome.Transport("event_stream_ended_without_reply"), outcome);
    }
}
