using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace KruxOS.Bridge.Tests.Support;

/// <summary>
/// A stand-in for the Anthropic Messages API on loopback, only where a real model cannot be reached: to any request
/// that offers tools and carries no tool result yet it answers with one <c>tool_use</c> of the native shell
/// (<c>Bash</c>, running <see cref="Command"/>); to anything else with the text "done". It records every request, so
/// a spec can read what Claude Code offered the model and what it sent back as the tool's result.
/// </summary>
public sealed class FakeAnthropic : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeAnthropic(WebApplication app, string command)
    {
        _app = app;
        Command = command;
    }

    /// <summary>The shell command the fake model asks for.</summary>
    public string Command { get; }

    /// <summary>Every request body, in arrival order.</summary>
    public ConcurrentQueue<JsonObject> Requests { get; } = new();

    public string BaseUrl => _app.Urls.First();

    public static async Task<FakeAnthropic> StartAsync(string command)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        var app = builder.Build();
        var fake = new FakeAnthropic(app, command);
        app.MapPost("/v1/messages", fake.MessagesAsync);
        app.MapPost("/v1/messages/count_tokens", () => Results.Json(new { input_tokens = 1 }));
        await app.StartAsync();
        return fake;
    }

    /// <summary>The tool names Claude Code offered the model, per request.</summary>
    public IEnumerable<IReadOnlyList<string>> OfferedTools =>
        Requests.Select(r => (IReadOnlyList<string>)[.. (r["tools"] as JsonArray ?? []).Select(t => t?["name"]?.GetValue<string>() ?? "")]);

    /// <summary>The tool results Claude Code sent back (their text).</summary>
    public IEnumerable<string> ToolResults =>
        Requests.SelectMany(r => (r["messages"] as JsonArray ?? []).SelectMany(m => m?["content"] as JsonArray ?? []))
            .Where(c => c?["type"]?.GetValue<string>() == "tool_result")
            .Select(c => c!["content"] is JsonValue v ? v.GetValue<string>() : c["content"]?.ToJsonString() ?? "");

    private async Task MessagesAsync(HttpContext http)
    {
        var request = (await JsonNode.ParseAsync(http.Request.Body))!.AsObject();
        Requests.Enqueue(request);
        var answered = (request["messages"] as JsonArray ?? []).Any(m => (m?["content"] as JsonArray ?? []).Any(c => c?["type"]?.GetValue<string>() == "tool_result"));
        var offersTools = request["tools"] is JsonArray { Count: > 0 };
        JsonObject block = offersTools && !answered
            ? new JsonObject { ["type"] = "tool_use", ["id"] = "toolu_kruxos_1", ["name"] = "Bash", ["input"] = new JsonObject { ["command"] = Command, ["description"] = "run it" } }
            : new JsonObject { ["type"] = "text", ["text"] = "done" };
        var stop = block["type"]!.GetValue<string>() == "tool_use" ? "tool_use" : "end_turn";
        var model = request["model"]?.GetValue<string>() ?? "claude";
        if (request["stream"]?.GetValue<bool>() != true)
        {
            await http.Response.WriteAsJsonAsync(new JsonObject
            {
                ["id"] = "msg_kruxos", ["type"] = "message", ["role"] = "assistant", ["model"] = model,
                ["content"] = new JsonArray(block), ["stop_reason"] = stop, ["stop_sequence"] = null,
                ["usage"] = new JsonObject { ["input_tokens"] = 1, ["output_tokens"] = 1 },
            });
            return;
        }
        http.Response.ContentType = "text/event-stream";
        var events = new List<(string, JsonObject)>
        {
            ("message_start", new JsonObject { ["type"] = "message_start", ["message"] = new JsonObject
            {
                ["id"] = "msg_kruxos", ["type"] = "message", ["role"] = "assistant", ["model"] = model, ["content"] = new JsonArray(),
                ["stop_reason"] = null, ["stop_sequence"] = null, ["usage"] = new JsonObject { ["input_tokens"] = 1, ["output_tokens"] = 1 },
            } }),
        };
        if (stop == "tool_use")
        {
            events.Add(("content_block_start", new JsonObject { ["type"] = "content_block_start", ["index"] = 0, ["content_block"] = new JsonObject
                { ["type"] = "tool_use", ["id"] = block["id"]!.GetValue<string>(), ["name"] = "Bash", ["input"] = new JsonObject() } }));
            events.Add(("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = 0, ["delta"] = new JsonObject
                { ["type"] = "input_json_delta", ["partial_json"] = block["input"]!.ToJsonString() } }));
        }
        else
        {
            events.Add(("content_block_start", new JsonObject { ["type"] = "content_block_start", ["index"] = 0, ["content_block"] = new JsonObject { ["type"] = "text", ["text"] = "" } }));
            events.Add(("content_block_delta", new JsonObject { ["type"] = "content_block_delta", ["index"] = 0, ["delta"] = new JsonObject { ["type"] = "text_delta", ["text"] = "done" } }));
        }
        events.Add(("content_block_stop", new JsonObject { ["type"] = "content_block_stop", ["index"] = 0 }));
        events.Add(("message_delta", new JsonObject { ["type"] = "message_delta", ["delta"] = new JsonObject { ["stop_reason"] = stop, ["stop_sequence"] = null },
            ["usage"] = new JsonObject { ["output_tokens"] = 1 } }));
        events.Add(("message_stop", new JsonObject { ["type"] = "message_stop" }));
        var text = new StringBuilder();
        foreach (var (name, data) in events) text.Append($"event: {name}\ndata: {data.ToJsonString()}\n\n");
        await http.Response.WriteAsync(text.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
