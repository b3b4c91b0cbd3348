using System.Text.Json.Nodes;
using Xunit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using ModelContextProtocol.Client;
using ModelContextProtocol.Protocol;

namespace KruxOS.Gateway.Tests.Policy;

/// <summary>The policy engine seen from an MCP client: tool lists, denials naming the rule, hot reload.</summary>
public sealed class PolicyEndToEndSpecs
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly string InfoTool = ToolNames.ToMcp(CapabilityName.Parse("system.info"));
    private static readonly string TimeTool = ToolNames.ToMcp(CapabilityName.Parse("system.time"));
    private static readonly string RunTool = ToolNames.ToMcp(CapabilityName.Parse("process.run"));
    private static readonly string PolicyTool = ToolNames.ToMcp(CapabilityName.Parse("agent.policy"));
    private static readonly string CapabilitiesTool = ToolNames.ToMcp(CapabilityName.Parse("agent.capabilities"));

    private const string BlockInfo = "rules:\n  - capability: system.info\n    tier: blocked\n    reason: bots do not read host facts\n";
    private const string NotifyInfo = "rules:\n  - capability: system.info\n    tier: notify\n    reason: reported to the supervisor\n";

    private static Dictionary<string, string> TeamModerate(string? botFile = null)
    {
        var files = new Dictionary<string, string> { ["org.yaml"] = PolicyTemplates.Get("team-moderate") };
        if (botFile is not null) files["agents/bot.yaml"] = botFile;
        return files;
    }

    // A client that reports every tools/list_changed it receives.
    private static McpClientOptions OnListChanged(Action onChanged) => new()
    {
        Handlers = new McpClientHandlers
        {
            NotificationHandlers =
            [
                new(NotificationMethods.ToolListChangedNotification, (_, _) =>
                {
                    onChanged();
                    return ValueTask.CompletedTask;
                }),
            ],
        },
    };

    // Waits until the gateway has swapped in a set other than `revision`: its tools/list_changed decisions are made then.
    private static async Task WaitForNewRevisionAsync(PolicyGateway gateway, string revision)
    {
        using var timeout = new CancellationTokenSource(Wait);
        while (gateway.Policies.Status.Revision == revision) await Task.Delay(50, timeout.Token);
    }

    // Long enough for a notification sent together with another client's to arrive too.
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    // One JSON-RPC request on the /rpc endpoint with the agent's bearer token.
    private static async Task<JsonNode> RpcAsync(PolicyGateway gateway, string token, string method, JsonObject parameters)
    {
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.Port}") };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        var body = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = method, ["params"] = parameters }.ToJsonString();
        using var response = await http.PostAsync("/rpc", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        return JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
    }

    // The JSON a successful call returned.
    private static JsonObject DataOf(CallToolResult result)
    {
        Assert.NotEqual(true, result.IsError);
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        return Assert.IsType<JsonObject>(JsonNode.Parse(text));
    }

    // The 1-based line of the first rule for `capability` in a policy text (so specs follow template edits).
    private static int RuleLine(string yaml, string capability) =>
        Array.FindIndex(yaml.Split('\n'), l => l.TrimEnd() == $"  - capability: {capability}") + 1;

    private static JsonObject ErrorOf(CallToolResult result)
    {
        Assert.True(result.IsError);
        var text = Assert.IsType<TextContentBlock>(Assert.Single(result.Content)).Text;
        return Assert.IsType<JsonObject>(JsonNode.Parse(text));
    }

    [Fact]
    public async Task Should_list_the_tools_team_moderate_allows_and_omit_the_agents_blocked_ones()
    {
        // arrange
        await using var gateway = await PolicyGateway.StartAsync(TeamModerate(BlockInfo));
        var botToken = await gateway.CreateAgentAsync("bot");
        var otherToken = await gateway.CreateAgentAsync("other");

        // act
        await using var bot = await gateway.ConnectAsync(botToken);
        await using var other = await gateway.ConnectAsync(otherToken);
        var botTools = await bot.ListToolsAsync(cancellationToken: TestContext.Current.CancellationToken);
        var otherTools = await other.ListToolsAsync(cancellationToken: TestContext.Current.CancellationToken);

        // assert: team-moderate makes system.* autonomous; bot's own file blocks system.info for bot only
        var botNames = botTools.Select(t => t.Name).ToHashSet();
        Assert.DoesNotContain(InfoTool, botNames);
        Assert.Contains(TimeTool, botNames);
        // every capability but bot's blocked system.info and email.bulk_delete, which every shipped template blocks (ADR 0055)
        Assert.DoesNotContain("email__bulk_delete", botNames);
        Assert.Equal(gateway.Policies.Registry.All.Length - 2, botNames.Count);
        Assert.Contains(InfoTool, otherTools.Select(t => t.Name));

        // and each tool carries the tier team-moderate gives it, in _meta and at the end of its description
        foreach (var (capability, tier) in new[]
                 {
                     ("system.time", "autonomous"), ("filesystem.read", "autonomous"), ("filesystem.list", "autonomous"), ("git.status", "autonomous"),
                     ("filesystem.delete", "approval_required"), ("git.push", "approval_required"),
                     ("process.run", "notify"), ("process.kill", "notify"),
                     // not listed in the template: its defaults.tier
                     ("git.commit", "notify"),
                     // writes to /workspace/tmp are autonomous, so the least a write can get is autonomous
                     ("filesystem.write", "autonomous"),
                 })
        {
            var tool = botTools.Single(t => t.Name == ToolNames.ToMcp(CapabilityName.Parse(capability)));
            Assert.Equal(capability, tool.ProtocolTool.Meta?["kruxos"]?["capability"]?.GetValue<string>());
            Assert.Equal(tier, tool.ProtocolTool.Meta?["kruxos"]?["policy_tier"]?.GetValue<string>());
            Assert.EndsWith($"[policy tier: {tier}]", tool.Description);
        }
        Assert.DoesNotContain(ToolNames.ToMcp(CapabilityName.Parse("email.bulk_delete")), botNames);
    }

    [Fact]
    public async Task Should_deny_a_blocked_call_with_the_rule_named()
    {
        // arrange
        await using var gateway = await PolicyGateway.StartAsync(TeamModerate(BlockInfo));
        var token = await gateway.CreateAgentAsync("bot");
        await using var bot = await gateway.ConnectAsync(token);

        // act
        var result = await bot.CallToolAsync(InfoTool, cancellationToken: TestContext.Current.CancellationToken);
        var allowed = await bot.CallToolAsync(TimeTool, cancellationToken: TestContext.Current.CancellationToken);

        // assert
        var error = ErrorOf(result);
        Assert.Equal("PolicyDenied", error["error"]?.GetValue<string>());
        Assert.Equal("agents/bot.yaml:2", error["context"]?["rule"]?.GetValue<string>());
        Assert.NotEqual(true, allowed.IsError);
    }

    [Fact]
    public async Task Should_filter_capabilities_list_and_deny_with_32001_on_the_json_rpc_endpoint()
    {
        // arrange
        await using var gateway = await PolicyGateway.StartAsync(TeamModerate(BlockInfo));
        var token = await gateway.CreateAgentAsync("bot");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gateway.Port}") };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        async Task<JsonNode> RpcAsync(string method, JsonObject parameters)
        {
            var body = new JsonObject { ["jsonrpc"] = "2.0", ["id"] = 1, ["method"] = method, ["params"] = parameters }.ToJsonString();
            using var response = await http.PostAsync("/rpc", new StringContent(body, System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
            return JsonNode.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))!;
        }

        // act
        var list = await RpcAsync("capabilities.list", []);
        var denied = await RpcAsync("capabilities.invoke", new JsonObject { ["capability"] = "system.info" });

        // assert
        var names = list["result"]!["capabilities"]!.AsArray().Select(c => c!["name"]!.GetValue<string>()).ToList();
        Assert.DoesNotContain("system.info", names);
        Assert.Contains("system.time", names);
        Assert.Equal(-32001, denied["error"]!["code"]!.GetValue<int>());
        Assert.Contains("agents/bot.yaml:2", denied["error"]!.ToJsonString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_apply_an_edited_agent_file_to_the_next_call_and_tell_the_client_its_tools_changed()
    {
        // arrange
        await using var gateway = await PolicyGateway.StartAsync(TeamModerate(BlockInfo));
        var token = await gateway.CreateAgentAsync("bot");
        var listChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var options = new McpClientOptions
        {
            Handlers = new McpClientHandlers
            {
                NotificationHandlers =
                [
                    new(NotificationMethods.ToolListChangedNotification, (_, _) =>
                    {
                        listChanged.TrySetResult();
                        return ValueTask.CompletedTask;
                    }),
                ],
            },
        };
        await using var bot = await gateway.ConnectAsync(token, options);
        Assert.Equal("PolicyDenied", ErrorOf(await bot.CallToolAsync(InfoTool, cancellationToken: TestContext.Current.CancellationToken))["error"]?.GetValue<string>());
        var revision = gateway.Policies.Status.Revision;

        // act: the operator edits the agent's file; no restart, no reload command
        gateway.WritePolicy("agents/bot.yaml", NotifyInfo);
        await listChanged.Task.WaitAsync(Wait, TestContext.Current.CancellationToken);

        // assert
        Assert.NotEqual(revision, gateway.Policies.Status.Revision);
        var result = await bot.CallToolAsync(InfoTool, cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotEqual(true, result.IsError);
        var tools = await bot.ListToolsAsync(cancellationToken: TestContext.Current.CancellationToken);
        var info = tools.Single(t => t.Name == InfoTool);
        Assert.Equal("notify", info.ProtocolTool.Meta?["kruxos"]?["policy_tier"]?.GetValue<string>());
    }

    [Fact]
    public async Task Should_tell_only_the_client_whose_tools_changed_when_a_policy_file_is_edited()
    {
        // arrange: bot and other under team-moderate; bot's own file blocks system.info
        await using var gateway = await PolicyGateway.StartAsync(TeamModerate(BlockInfo));
        var botChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var otherChanged = 0;
        await using var bot = await gateway.ConnectAsync(await gateway.CreateAgentAsync("bot"), OnListChanged(() => botChanged.TrySetResult()));
        await using var other = await gateway.ConnectAsync(await gateway.CreateAgentAsync("other"), OnListChanged(() => Interlocked.Increment(ref otherChanged)));
        var revision = gateway.Policies.Status.Revision;

        // act: only bot's tools change (system.info comes back, as notify)
        gateway.WritePolicy("agents/bot.yaml", NotifyInfo);
        await botChanged.Task.WaitAsync(Wait, TestContext.Current.CancellationToken);

        // assert
        Assert.NotEqual(revision, gateway.Policies.Status.Revision);
        await Task.Delay(Quiet, TestContext.Current.CancellationToken);
        Assert.Equal(0, Volatile.Read(ref otherChanged));
    }

    [Fact]
    public async Task Should_not_tell_a_client_about_an_edit_that_leaves_its_tools_as_they_were()
    {
        // arrange
        await using var gateway = await PolicyGateway.StartAsync(TeamModerate(BlockInfo));
        var changes = 0;
        var changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var bot = await gateway.ConnectAsync(await gateway.CreateAgentAsync("bot"), OnListChanged(() =>
        {
            Interlocked.Increment(ref changes);
            changed.TrySetResult();
        }));
        var revision = gateway.Policies.Status.Revision;

        // act: a new revision whose only change is a reason
        gateway.WritePolicy("agents/bot.yaml", BlockInfo.Replace("bots do not read host facts", "host facts stay private", StringComparison.Ordinal));
        await WaitForNewRevisionAsync(gateway, revision);
        await Task.Delay(Quiet, TestContext.Current.CancellationToken);

        // assert: nothing sent; an edit that does change the tools is still announced
        Assert.Equal(0, Volatile.Read(ref changes));
        gateway.WritePolicy("agents/bot.yaml", NotifyInfo);
        await changed.Task.WaitAsync(Wait, TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task Should_refuse_a_call_over_its_rate_limit_with_retry_after_over_mcp_and_json_rpc()
    {
        // arrange: one system.time per hour for every agent
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string>
        {
            ["org.yaml"] = "rules:\n  - capability: system.time\n    tier: autonomous\n    rate_limit: { max: 1, window: 1h }\n",
        });
        var mcpToken = await gateway.CreateAgentAsync("bot");
        var rpcToken = await gateway.CreateAgentAsync("rpc-bot");
        await using var bot = await gateway.ConnectAsync(mcpToken);
        var invoke = new JsonObject { ["capability"] = "system.time" };

        // act
        var firstMcp = await bot.CallToolAsync(TimeTool, cancellationToken: TestContext.Current.CancellationToken);
        var secondMcp = await bot.CallToolAsync(TimeTool, cancellationToken: TestContext.Current.CancellationToken);
        var firstRpc = await RpcAsync(gateway, rpcToken, "capabilities.invoke", invoke);
        var secondRpc = await RpcAsync(gateway, rpcToken, "capabilities.invoke", (JsonObject)invoke.DeepClone());

        // assert: MCP: an error result RateLimited with retry_after
        Assert.NotEqual(true, firstMcp.IsError);
        var error = ErrorOf(secondMcp);
        Assert.Equal("RateLimited", error["error"]?.GetValue<string>());
        Assert.True(error["retryable"]?.GetValue<bool>());
        var retryAfter = error["retry_after"]!.GetValue<double>();
        Assert.InRange(retryAfter, 3500, 3600);
        Assert.Equal(1, error["context"]?["limit"]?.GetValue<int>());
        Assert.Equal(3600, error["context"]?["window_seconds"]?.GetValue<int>());

        // JSON-RPC: the first call succeeds, the second is error -32000 with the same facts
        Assert.True(firstRpc["result"]?["success"]?.GetValue<bool>(), firstRpc.ToJsonString());
        Assert.Equal(-32000, secondRpc["error"]?["code"]?.GetValue<int>());
        var data = secondRpc["error"]!["data"]!;
        Assert.Equal("RateLimited", data["type"]?.GetValue<string>());
        Assert.InRange(data["retry_after_seconds"]!.GetValue<double>(), 3500, 3600);
    }

    [Fact]
    public async Task Should_deny_a_dangerous_command_with_no_policy_files_at_all()
    {
        // arrange: an empty policy directory: protections and definition tiers only
        await using var gateway = await PolicyGateway.StartAsync();
        Assert.Empty(gateway.Policies.Status.Files);
        await using var bot = await gateway.ConnectAsync(await gateway.CreateAgentAsync("bot"));

        // act
        var result = await bot.CallToolAsync(RunTool, new Dictionary<string, object?> { ["command"] = "rm", ["args"] = new[] { "-rf", "/etc" } },
            cancellationToken: TestContext.Current.CancellationToken);

        // assert
        var error = ErrorOf(result);
        Assert.Equal("PolicyDenied", error["error"]?.GetValue<string>());
        Assert.Equal(SystemProtections.DangerousCommands.Reference, error["context"]?["rule"]?.GetValue<string>());
        Assert.Equal("system:deny_dangerous_commands", error["context"]?["rule"]?.GetValue<string>());
        Assert.Contains("recursive rm of '/etc'", error["message"]?.GetValue<string>());
    }

    [Fact]
    public async Task Should_report_the_agents_effective_policy_and_capabilities_under_team_moderate()
    {
        // arrange: team-moderate as org.yaml; bot's own file blocks system.info
        var files = TeamModerate(BlockInfo);
        await using var gateway = await PolicyGateway.StartAsync(files);
        await using var bot = await gateway.ConnectAsync(await gateway.CreateAgentAsync("bot"));

        // act
        var policy = DataOf(await bot.CallToolAsync(PolicyTool, cancellationToken: TestContext.Current.CancellationToken));
        var capabilities = DataOf(await bot.CallToolAsync(CapabilitiesTool, cancellationToken: TestContext.Current.CancellationToken));

        // assert: agent.policy lists every rule in evaluation order, each with its file:line (or protection) and layer
        Assert.Equal("notify", policy["default_tier"]?.GetValue<string>());
        Assert.Equal(gateway.Policies.Status.Revision, policy["policy_revision"]?.GetValue<string>());
        var rules = policy["rules"]!.AsArray().Select(r => r!.AsObject()).ToList();
        Assert.Equal(["protection", "org", "agent"], rules.Select(r => r["layer"]!.GetValue<string>()).Distinct());
        foreach (var rule in rules)
        {
            var reference = rule["rule"]!.GetValue<string>();
            var expected = rule["layer"]!.GetValue<string>() switch
            {
                "protection" => "system:",
                "org" => "org.yaml:",
                _ => "agents/bot.yaml:",
            };
            Assert.StartsWith(expected, reference);
            if (!reference.StartsWith("system:", StringComparison.Ordinal)) Assert.True(int.Parse(reference[expected.Length..]) > 0, reference);
        }
        Assert.Contains(rules, r => r["rule"]!.GetValue<string>() == "system:deny_dangerous_commands");
        var own = Assert.Single(rules, r => r["layer"]!.GetValue<string>() == "agent");
        Assert.Equal(("agents/bot.yaml:2", "system.info", "blocked"),
            (own["rule"]!.GetValue<string>(), own["capability"]!.GetValue<string>(), own["tier"]!.GetValue<string>()));
        var delete = Assert.Single(rules, r => r["capability"]!.GetValue<string>() == "filesystem.delete");
        Assert.Equal($"org.yaml:{RuleLine(files["org.yaml"], "filesystem.delete")}", delete["rule"]!.GetValue<string>());
        Assert.Equal("approval_required", delete["tier"]!.GetValue<string>());
        var run = Assert.Single(rules, r => r["capability"]!.GetValue<string>() == "process.run");
        Assert.Equal("120 per 3600s then approval_required", run["rate_limit"]!.GetValue<string>());

        // agent.capabilities omits the blocked system.info and keeps the rest with their tiers
        var listed = capabilities["capabilities"]!.AsArray().Select(c => c!.AsObject()).ToList();
        Assert.DoesNotContain(listed, c => c["name"]!.GetValue<string>() == "system.info");
        Assert.Equal("autonomous", listed.Single(c => c["name"]!.GetValue<string>() == "system.time")["permission_tier"]!.GetValue<string>());
        Assert.Equal("approval_required", listed.Single(c => c["name"]!.GetValue<string>() == "filesystem.delete")["permission_tier"]!.GetValue<string>());
        Assert.Equal(listed.Count, capabilities["total"]!.GetValue<int>());
        var tools = await bot.ListToolsAsync(cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(tools.Count, listed.Count);
    }

    [Fact]
    public async Task Should_mark_the_rules_inherited_from_a_built_in_template_in_agent_policy()
    {
        // arrange: org.yaml adds one rule of its own and extends team-moderate
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string>
        {
            ["org.yaml"] = "extends: team-moderate\nrules:\n  - capability: git.commit\n    tier: notify\n",
        });
        await using var bot = await gateway.ConnectAsync(await gateway.CreateAgentAsync("bot"));

        // act
        var policy = DataOf(await bot.CallToolAsync(PolicyTool, cancellationToken: TestContext.Current.CancellationToken));

        // assert: the file's own rule names the file; the template's rules name the template, not a file on disk
        var org = policy["rules"]!.AsArray().Select(r => r!.AsObject()).Where(r => r["layer"]!.GetValue<string>() == "org").ToList();
        Assert.Equal("org.yaml:3", org[0]["rule"]!.GetValue<string>());
        Assert.Null(org[0]["template"]);
        var delete = Assert.Single(org, r => r["capability"]!.GetValue<string>() == "filesystem.delete");
        Assert.Equal($"template:team-moderate:{RuleLine(PolicyTemplates.Get("team-moderate"), "filesystem.delete")}", delete["rule"]!.GetValue<string>());
        Assert.Equal("team-moderate", delete["template"]!.GetValue<string>());
        Assert.All(org.Skip(1), r => Assert.StartsWith("template:team-moderate:", r["rule"]!.GetValue<string>()));
    }
}
