using System.Net;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Cli;

/// <summary><c>kruxos user-token list</c> shows when each token was last used (on this node, since it started).</summary>
public sealed class UserTokenUsageSpecs
{
    [Fact]
    public async Task Should_show_when_a_user_token_was_last_used()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var used = (await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "laptop" }))["token"]!.GetValue<string>();
        await gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "idle" });
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        // act: one User API request with the laptop token
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{gateway.UserApiPort}/api/status");
        request.Headers.Authorization = new("Bearer", used);
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(request)).StatusCode);
        var json = await ProcessRunner.Kruxos(gateway, "user-token", "list", "--json");
        var table = await ProcessRunner.Kruxos(gateway, "user-token", "list");

        // assert
        var tokens = JsonNode.Parse(json.StdOut)!["tokens"]!.AsArray();
        var laptop = tokens.Single(t => t!["label"]!.GetValue<string>() == "laptop")!;
        Assert.InRange(DateTimeOffset.Parse(laptop["last_used_at"]!.GetValue<string>(), System.Globalization.CultureInfo.InvariantCulture), before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.Null(tokens.Single(t => t!["label"]!.GetValue<string>() == "idle")!["last_used_at"]);
        Assert.Contains("LAST USED", table.StdOut);
        Assert.Contains("not since start", table.StdOut.Split('\n').Single(l => l.Contains("idle", StringComparison.Ordinal)));
        Assert.DoesNotContain("not since start", table.StdOut.Split('\n').Single(l => l.Contains("laptop", StringComparison.Ordinal)));
    }
}
