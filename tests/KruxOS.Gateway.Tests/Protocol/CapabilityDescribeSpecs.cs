using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary><c>capabilities.describe</c> returns the whole definition (spec §3.6, §8.2), in the spec's spellings.</summary>
public sealed class CapabilityDescribeSpecs
{
    [Fact]
    public async Task Should_describe_side_effects_common_patterns_and_input_types_by_their_spec_names()
    {
        // arrange
        await using var gateway = await TestGateway.StartAsync();
        var token = await gateway.CreateAgentAsync("describer");

        // act
        var delete = await DescribeAsync(gateway, token, "filesystem.delete");
        var kill = await DescribeAsync(gateway, token, "process.kill");
        var time = await DescribeAsync(gateway, token, "system.time");
        var list = await RpcAsync(gateway, token, """{"jsonrpc":"2.0","id":1,"method":"capabilities.list","params":{"category":"filesystem"}}""");

        // assert: side effects with reversibility, recipes with steps
        var effect = Assert.Single(delete["side_effects"]!.AsArray())!;
        Assert.True(effect["reversible"]!.GetValue<bool>());
        Assert.Contains("trash", effect["description"]!.GetValue<string>());
        Assert.NotEmpty(delete["common_patterns"]!.AsArray());
        Assert.All(delete["common_patterns"]!.AsArray(), p =>
        {
            Assert.False(string.IsNullOrWhiteSpace(p!["description"]!.GetValue<string>()));
            Assert.NotEmpty(p["steps"]!.AsArray());
        });
        Assert.Contains(delete["common_patterns"]!.AsArray(), p => p!["steps"]!.AsArray().Any(s => s!.GetValue<string>().StartsWith("filesystem.restore", StringComparison.Ordinal)));
        Assert.Empty(time["side_effects"]!.AsArray());
        Assert.NotEmpty(time["common_patterns"]!.AsArray());
        // input types by spec §8.2's names (URL and SHA256 in capitals: InputTypes.ToWire, DefinitionLoaderSpecs)
        Assert.Equal("Signal", kill["inputs"]!.AsArray().Single(i => i!["name"]!.GetValue<string>() == "signal")!["type"]!.GetValue<string>());
        Assert.Equal("SIGTERM", kill["inputs"]!.AsArray().Single(i => i!["name"]!.GetValue<string>() == "signal")!["default"]!.GetValue<string>());
        var listedSearch = list["result"]!["capabilities"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "filesystem.search_content")!;
        Assert.Equal("GlobPattern", listedSearch["inputs"]!.AsArray().Single(i => i!["name"]!.GetValue<string>() == "include_glob")!["type"]!.GetValue<string>());
        Assert.Equal("FilesystemPath", delete["inputs"]!.AsArray().Single(i => i!["name"]!.GetValue<string>() == "path")!["type"]!.GetValue<string>());
    }

    private static async Task<JsonNode> DescribeAsync(TestGateway gateway, string token, string name) =>
        (await RpcAsync(gateway, token, $$$"""{"jsonrpc":"2.0","id":1,"method":"capabilities.describe","params":{"name":"{{{name}}}"}}"""))["result"]!;

    private static async Task<JsonNode> RpcAsync(TestGateway gateway, string token, string body)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{gateway.GatewayPort}/rpc") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Authorization = new("Bearer", token);
        using var response = await http.SendAsync(request);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }
}
