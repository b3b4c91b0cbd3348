using System.Text.Json.Nodes;
using KruxOS.Cli;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Gateway.Tests.Policy;

/// <summary><c>kruxos config …</c> run in-process; validate needs no gateway, the others use a live one.</summary>
public sealed class PolicyCliSpecs
{
    private const string BlockInfo = "rules:\n  - capability: system.info\n    tier: blocked\n    reason: bots do not read host facts\n";

    private static async Task<(int Exit, string Out, string Err)> RunLocalAsync(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        // validate never opens the socket; a path that does not exist proves it.
        var exit = await CliApp.RunAsync(args, stdout, stderr, new ControlClient("/nonexistent/control.sock"), TestContext.Current.CancellationToken);
        return (exit, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Should_validate_a_good_file_locally_with_coverage_rate_limits_and_default_tier()
    {
        // arrange
        var dir = Directory.CreateTempSubdirectory("kruxos-cli-");
        try
        {
            var file = Path.Combine(dir.FullName, "org.yaml");
            await File.WriteAllTextAsync(file, PolicyTemplates.Get("team-moderate"), TestContext.Current.CancellationToken);

            // act
            var text = await RunLocalAsync("config", "validate", file);
            var json = await RunLocalAsync("config", "validate", file, "--json");

            // assert
            Assert.Equal(0, text.Exit);
            Assert.Contains("Valid:         yes", text.Out, StringComparison.Ordinal);
            Assert.Contains("Default tier:  notify", text.Out, StringComparison.Ordinal);
            Assert.Contains("process.run", text.Out, StringComparison.Ordinal);
            Assert.Equal(0, json.Exit);
            var report = JsonNode.Parse(json.Out)!;
            Assert.True(report["valid"]!.GetValue<bool>());
            Assert.Equal("org", report["layer"]!.GetValue<string>());
            Assert.Equal("notify", report["default_tier"]!.GetValue<string>());
            var coverage = report["coverage"]!.AsObject();
            Assert.Equal(report["capabilities"]!.GetValue<int>(), coverage.Sum(kv => kv.Value!.GetValue<int>()));
            Assert.Contains(report["rate_limits"]!.AsArray(), l => l!["capability"]!.GetValue<string>() == "process.run" && l["max"]!.GetValue<int>() == 120);
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public async Task Should_reject_a_file_with_a_failing_example_and_exit_1()
    {
        // arrange: the example claims a match the rule's condition cannot give
        var dir = Directory.CreateTempSubdirectory("kruxos-cli-");
        try
        {
            var agents = Directory.CreateDirectory(Path.Combine(dir.FullName, "agents"));
            var file = Path.Combine(agents.FullName, "bot.yaml");
            await File.WriteAllTextAsync(file, """
                rules:
                  - capability: filesystem.write
                    conditions: { path_prefix: /workspace/tmp }
                    tier: autonomous
                    examples:
                      match:
                        - { capability: filesystem.write, arguments: { path: /etc/passwd, content: x } }
                """, TestContext.Current.CancellationToken);

            // act
            var text = await RunLocalAsync("config", "validate", file);
            var json = await RunLocalAsync("config", "validate", file, "--json");

            // assert
            Assert.Equal(CliApp.Refused, text.Exit);
            Assert.Contains("Valid:         NO", text.Out, StringComparison.Ordinal);
            Assert.Contains("Failing examples:", text.Out, StringComparison.Ordinal);
            Assert.Contains("agents/bot.yaml:", text.Out, StringComparison.Ordinal);
            var report = JsonNode.Parse(json.Out)!;
            Assert.False(report["valid"]!.GetValue<bool>());
            Assert.Equal("agent", report["layer"]!.GetValue<string>());
            Assert.NotEmpty(report["failing_examples"]!.AsArray());
        }
        finally { dir.Delete(recursive: true); }
    }

    [Fact]
    public async Task Should_explain_a_decision_with_file_line_and_trace_over_the_control_socket()
    {
        // arrange
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string>
        {
            ["org.yaml"] = PolicyTemplates.Get("team-moderate"),
            ["agents/bot.yaml"] = BlockInfo,
        });

        // act
        var json = await gateway.CliAsync("config", "check-policy", "--agent", "bot", "--capability", "system.info", "--json");
        var text = await gateway.CliAsync("config", "check-policy", "--agent", "bot", "--capability", "system.info");
        var badArgs = await gateway.CliAsync("config", "check-policy", "--agent", "bot", "--capability", "system.info", "--args", "[1]");

        // assert
        Assert.Equal(0, json.Exit);
        var d = JsonNode.Parse(json.Out)!;
        Assert.Equal("blocked", d["tier"]!.GetValue<string>());
        Assert.Equal("agents/bot.yaml", d["file"]!.GetValue<string>());
        Assert.Equal(2, d["line"]!.GetValue<int>());
        Assert.Equal("bots do not read host facts", d["reason"]!.GetValue<string>());
        Assert.Equal(gateway.Policies.Status.Revision, d["revision"]!.GetValue<string>());
        Assert.StartsWith("protections(pass) → system(no file) → org(autonomous org.yaml:", d["trace"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.EndsWith("agent(blocked agents/bot.yaml:2)", d["trace"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, text.Exit);
        Assert.Contains("Source:     agents/bot.yaml line 2", text.Out, StringComparison.Ordinal);
        Assert.Equal(CliApp.Usage, badArgs.Exit);
    }

    [Fact]
    public async Task Should_name_the_built_in_template_when_an_extended_templates_rule_decides()
    {
        // arrange: org.yaml only extends team-moderate, whose own rule decides filesystem.delete
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string> { ["org.yaml"] = "extends: team-moderate\n" });
        var line = Array.FindIndex(PolicyTemplates.Get("team-moderate").Split('\n'), l => l.TrimEnd() == "  - capability: filesystem.delete") + 1;
        string[] check = ["config", "check-policy", "--agent", "bot", "--capability", "filesystem.delete", "--args", """{"path":"/workspace/a"}"""];

        // act
        var json = await gateway.CliAsync([.. check, "--json"]);
        var text = await gateway.CliAsync(check);

        // assert
        Assert.Equal(0, json.Exit);
        var d = JsonNode.Parse(json.Out)!;
        Assert.Equal($"template:team-moderate:{line}", d["rule"]!.GetValue<string>());
        Assert.Null(d["file"]);
        Assert.Equal("team-moderate", d["template"]!.GetValue<string>());
        Assert.Equal("org.yaml", d["via"]!.GetValue<string>());
        Assert.Contains($"org(approval_required template:team-moderate:{line})", d["trace"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(0, text.Exit);
        Assert.Contains($"Source:     built-in template team-moderate line {line} (not a file on disk; org.yaml extends it)", text.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_set_a_template_with_a_backup_and_show_it_in_force()
    {
        // arrange
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string>
        {
            ["org.yaml"] = PolicyTemplates.Get("personal-permissive"),
        });

        // act
        var set = await gateway.CliAsync("config", "set", "policy", "enterprise-restrictive");
        var show = await gateway.CliAsync("config", "show", "policy", "--json");
        var unknown = await gateway.CliAsync("config", "set", "policy", "anything-goes");

        // assert
        Assert.Equal(0, set.Exit);
        Assert.Contains("Policy 'enterprise-restrictive' is in force", set.Out, StringComparison.Ordinal);
        var backup = Assert.Single(Directory.GetFiles(gateway.PoliciesDir, "org.yaml.bak-*"));
        Assert.Equal(PolicyTemplates.Get("personal-permissive"), await File.ReadAllTextAsync(backup, TestContext.Current.CancellationToken));
        Assert.Equal(PolicyTemplates.Get("enterprise-restrictive"), await File.ReadAllTextAsync(Path.Combine(gateway.PoliciesDir, "org.yaml"), TestContext.Current.CancellationToken));
        Assert.Equal(0, show.Exit);
        var status = JsonNode.Parse(show.Out)!;
        Assert.Equal("enterprise-restrictive", status["template"]!.GetValue<string>());
        Assert.True(status["loaded"]!.GetValue<bool>());
        Assert.Equal(["org.yaml"], status["files"]!.AsArray().Select(f => f!.GetValue<string>()));
        Assert.Empty(status["errors"]!.AsArray());
        Assert.Equal(CliApp.Usage, unknown.Exit);
    }

    [Fact]
    public async Task Should_show_load_errors_with_file_and_line_while_the_last_good_set_stays()
    {
        // arrange
        await using var gateway = await PolicyGateway.StartAsync(new Dictionary<string, string> { ["agents/bot.yaml"] = BlockInfo });
        var good = gateway.Policies.Status.Revision;

        // act: a broken edit, then the CLI asks to (re)apply a template, which forces a reload
        gateway.WritePolicy("agents/bot.yaml", "rules:\n  - capability: system.info\n    tier: sometimes\n");
        var set = await gateway.CliAsync("config", "set", "policy", "team-moderate");
        var show = await gateway.CliAsync("config", "show", "policy");

        // assert
        Assert.Equal(CliApp.Refused, set.Exit);
        Assert.Contains("NOT in force", set.Out, StringComparison.Ordinal);
        Assert.Equal(good, gateway.Policies.Status.Revision);
        Assert.Equal(0, show.Exit);
        Assert.Contains("agents/bot.yaml:3", show.Out, StringComparison.Ordinal);
        Assert.Contains($"Revision:   {good}", show.Out, StringComparison.Ordinal);
    }
}
