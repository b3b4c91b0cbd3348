using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

public sealed class PolicyCompilerSpecs
{
    private const string VariantA = """
        defaults:
          tier: approval_required
        overrides:
          - capability: filesystem.write
            conditions:
              path_prefix: /workspace/tmp
            tier: autonomous
            reason: scratch
          - capability: filesystem.*
            tier: notify
          - capability: process.run
            tier: notify
            rate_limit: { max: 2, window: 60, on_exceed: blocked }
        """;

    private const string VariantB = """
        name: same-policy
        version: "1.0"
        description: the same policy as a capability map
        defaults:
          tier: approval_required
        capabilities:
          filesystem.write:
            rules:
              - condition: { path_prefix: /workspace/tmp }
                tier: autonomous
                reason: scratch
          "filesystem.*": notify
          process.run:
            tier: notify
            rate_limit: { max: 2, window: 1m, on_exceed: blocked }
        """;

    private const string VariantC = """
        defaults: { tier: approval_required }
        rules:
          - match:
              capability: filesystem.write
              conditions: { path_prefix: /workspace/tmp }
            tier: autonomous
            reason: scratch
          - match: { capability: "filesystem.*" }
            tier: notify
          - match: { capability: process.run }
            tier: notify
            rate_limit: { max_per_minute: 2, escalate_to: blocked }
        """;

    public static TheoryData<string, string, string, Tier> VariantCases()
    {
        var data = new TheoryData<string, string, string, Tier>();
        foreach (var yaml in new[] { VariantA, VariantB, VariantC })
        {
            data.Add(yaml, "filesystem.write", """{"path":"tmp/x","content":"c"}""", Tier.Autonomous);
            data.Add(yaml, "filesystem.write", """{"path":"/workspace/x","content":"c"}""", Tier.Notify);
            data.Add(yaml, "filesystem.delete", """{"path":"/workspace/x"}""", Tier.Notify);
            data.Add(yaml, "git.push", """{"path":"/workspace/x"}""", Tier.ApprovalRequired);
            data.Add(yaml, "system.time", "{}", Tier.ApprovalRequired);
            data.Add(yaml, "process.run", """{"command":"ls"}""", Tier.Notify);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(VariantCases))]
    public void Should_read_all_three_schema_variants_to_the_same_decisions(string yaml, string capability, string args, Tier expected) =>
        Assert.Equal(expected, Decide(Compile(("org.yaml", yaml)), capability, args).Tier);

    [Theory]
    [InlineData(VariantA)]
    [InlineData(VariantB)]
    [InlineData(VariantC)]
    public void Should_read_the_same_rate_limit_in_all_variants(string yaml)
    {
        var rule = Compile(("org.yaml", yaml)).Org!.Rules.Single(r => r.RateLimit is not null);
        Assert.Equal(new RateLimit(2, TimeSpan.FromMinutes(1), Tier.Blocked), rule.RateLimit);
    }

    [Theory]
    [InlineData("autonomous", Tier.Autonomous)]
    [InlineData("notify", Tier.Notify)]
    [InlineData("approval_required", Tier.ApprovalRequired)]
    [InlineData("approval", Tier.ApprovalRequired)]
    [InlineData("require_approval", Tier.ApprovalRequired)]
    [InlineData("Approval-Required", Tier.ApprovalRequired)]
    [InlineData("blocked", Tier.Blocked)]
    public void Should_accept_tier_aliases(string spelling, Tier expected)
    {
        var set = Compile(("org.yaml", $"rules:\n  - capability: system.time\n    tier: {spelling}\n"));
        Assert.Equal(expected, Decide(set, "system.time").Tier);
    }

    [Theory]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    colour: red\n", 4, "unknown key 'colour'")]
    [InlineData("name: x\npriority: 3\n", 2, "unknown key 'priority'")]
    [InlineData("capabilities:\n  git.push:\n    tier: notify\n    when: now\n", 4, "unknown key 'when'")]
    [InlineData("rules:\n  - capability: system.time\n    tier: sometimes\n", 3, "unknown tier 'sometimes'")]
    [InlineData("rules:\n  - capability: system.time\n", 2, "needs a 'tier'")]
    [InlineData("rules:\n  - tier: notify\n", 2, "needs 'capability'")]
    [InlineData("rules:\n  - capability: files*\n    tier: notify\n", 2, "not a supported capability glob")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    conditions: { path_prefx: /x }\n", 4, "unknown key 'path_prefx'")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    conditions: { matches: x }\n", 4, "'matches' needs an 'argument'")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    conditions: { argument: a, matches: '(' }\n", 4, "not a valid regular expression")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    rate_limit: { max: 0 }\n", 4, "whole number")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    rate_limit: { max: 3, on_exceed: autonomous }\n", 2, "must be stricter")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    rate_limit: { max: 3, max_per_hour: 3 }\n", 4, "exactly one of")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    rate_limit: { max: 3, window: forever }\n", 4, "not a window")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    conditions: { content_size_lt: big }\n", 4, "not a size")]
    [InlineData("rules:\n  - capability: system.time\n    tier: notify\n    conditions: { path_prefix: /../x }\n", 4, "climbs above")]
    [InlineData("rules: [\n  { capability: system.time,\n", 3, "")]
    [InlineData("rules:\n  - capability: a.b\n    tier: notify\nrules: []\n", 4, "")]
    [InlineData("extends: no-such-template\n", 1, "unknown template")]
    [InlineData("defaults: { reason: x }\n", 1, "needs a 'tier'")]
    public void Should_reject_bad_files_with_file_and_line(string yaml, int line, string message)
    {
        var result = TryCompile(("org.yaml", yaml));
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors, e => e.Location.Line == line);
        Assert.Equal("org.yaml", error.Location.File);
        Assert.Contains(message, error.Message);
        Assert.StartsWith($"org.yaml:{line}:", error.ToString());
    }

    [Theory]
    [InlineData(@"(a)\1", "backreference")]
    [InlineData(@"(?<x>a)\k<x>", "backreference")]
    [InlineData("(?=admin)", "lookaround")]
    [InlineData("(?!x)y", "lookaround")]
    [InlineData("(?<=/)etc", "lookaround")]
    [InlineData("(?>a+)b", "atomic")]
    [InlineData("(?(a)b|c)", "conditional")]
    public void Should_reject_at_load_a_matches_pattern_that_needs_backtracking(string pattern, string construct)
    {
        // arrange: the pattern on line 4, so the error names file and line
        var yaml = $"rules:\n  - capability: system.time\n    tier: notify\n    conditions: {{ argument: timezone, matches: '{pattern}' }}\n";

        // act
        var result = TryCompile(("agents/bot.yaml", yaml));

        // assert
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors);
        Assert.Equal(DiagnosticCodes.InvalidValue, error.Code);
        Assert.StartsWith("agents/bot.yaml:4:", error.ToString());
        Assert.Contains("linear-time", error.Message);
        Assert.Contains(construct, error.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void Should_compile_matches_patterns_for_linear_time_matching_without_a_timeout()
    {
        var set = Compile(("org.yaml", "rules:\n  - capability: system.time\n    tier: notify\n    conditions: { argument: timezone, matches: '^(Europe|America)/[A-Z][a-z]+$' }\n"));
        var condition = Assert.IsType<MatchesCondition>(Assert.Single(set.Org!.Rules).Conditions.Single());
        Assert.True(condition.Compiled.Options.HasFlag(System.Text.RegularExpressions.RegexOptions.NonBacktracking));
        Assert.Equal(System.Text.RegularExpressions.Regex.InfiniteMatchTimeout, condition.Compiled.MatchTimeout);
    }

    [Fact]
    public void Should_report_every_error_of_a_file_not_only_the_first()
    {
        var result = TryCompile(("org.yaml", "rules:\n  - capability: a.b\n    tier: nope\n  - capability: c.d\n    tier: notify\n    bogus: 1\n"));
        Assert.Equal([3, 6], result.Errors.Select(e => e.Location.Line));
    }

    [Fact]
    public void Should_record_the_source_line_of_every_rule()
    {
        var set = Compile(("org.yaml", VariantB));
        Assert.Equal(["org.yaml:9", "org.yaml:12", "org.yaml:13", "org.yaml:5"], set.Org!.Rules.Select(r => r.Reference));
    }

    [Theory]
    [InlineData("team.yaml", "not a policy location")]
    [InlineData("agents/Bad Name.yaml", "agent name")]
    [InlineData("agents/default.yaml", "reserved")]
    [InlineData("org.txt", "not a .yaml file")]
    [InlineData("agents/x/y.yaml", "not a policy location")]
    public void Should_reject_files_outside_the_policy_layout(string path, string message)
    {
        var result = TryCompile((path, "rules: []"));
        Assert.Contains(message, Assert.Single(result.Errors).Message);
    }

    [Fact]
    public void Should_accept_yml_extension_leading_dot_slash_and_empty_files()
    {
        var set = Compile(("./system.yml", ""), ("org.yaml", "# only a comment\n"), ("agents/bot.yaml", "rules: []\n"));
        Assert.NotNull(set.System);
        Assert.Empty(set.Org!.Rules);
        Assert.True(set.Agents.ContainsKey("bot"));
    }

    [Fact]
    public void Should_reject_an_agent_file_whose_agent_key_names_another_agent()
    {
        var result = TryCompile(("agents/bot.yaml", "agent: other\n"));
        Assert.Contains("does not match the file name", Assert.Single(result.Errors).Message);
        Assert.True(TryCompile(("agents/bot.yaml", "agent: bot\n")).Succeeded);
    }

    [Fact]
    public void Should_accept_metadata_keys_for_other_components()
    {
        var set = Compile(("agents/bot.yaml", "trash_retention_hours: 48\nnetwork:\n  allowed_domains: [Example.com, api.github.com]\n"));
        Assert.Equal(48, set.Agents["bot"].TrashRetentionHours);
        Assert.Equal(["example.com", "api.github.com"], set.Agents["bot"].Network!.Domains.Select(d => d.ToString()));
    }

    [Fact]
    public void Should_check_examples_and_accept_a_file_whose_examples_pass()
    {
        var set = Compile(("org.yaml", """
            rules:
              - capability: filesystem.write
                conditions: { path_prefix: /workspace/tmp }
                tier: autonomous
                examples:
                  match:
                    - { capability: filesystem.write, arguments: { path: tmp/a, content: x } }
                  not_match:
                    - { capability: filesystem.write, arguments: { path: /workspace/tmp/../a } }
                    - { capability: filesystem.read, arguments: { path: /workspace/tmp/a } }
            """));
        Assert.Equal(3, set.Org!.Rules[0].Examples.Length);
    }

    [Theory]
    [InlineData("!bytes 1KiB", true)]
    [InlineData("!bytes 1023", false)]
    [InlineData("\"!bytes 1KiB\"", false)] // quoted: the text itself, 11 bytes
    public void Should_read_bytes_tags_in_example_arguments_as_strings_of_that_size(string content, bool large)
    {
        // arrange: a size rule with an example whose content is written as a size
        var yaml = "rules:\n  - capability: filesystem.write\n    conditions: { content_size_gte: 1KiB }\n    tier: approval_required\n"
                   + $"    examples:\n      {(large ? "match" : "not_match")}:\n        - {{ arguments: {{ path: a.bin, content: {content} }} }}\n";

        // act
        var result = TryCompile(("org.yaml", yaml));

        // assert
        Assert.True(result.Succeeded, string.Join("\n", result.Errors));
    }

    [Theory]
    [InlineData("!bytes lots", "not a size")]
    [InlineData("!bytes 65MiB", "at most 64 MiB")]
    public void Should_reject_a_bytes_tag_that_is_not_a_usable_size(string content, string message)
    {
        var yaml = "rules:\n  - capability: filesystem.write\n    tier: notify\n"
                   + $"    examples:\n      match:\n        - {{ arguments: {{ path: a.bin, content: {content} }} }}\n";
        var result = TryCompile(("org.yaml", yaml));
        Assert.False(result.Succeeded);
        var error = Assert.Single(result.Errors);
        Assert.Equal(DiagnosticCodes.InvalidValue, error.Code);
        Assert.Equal(6, error.Location.Line);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Should_reject_a_file_whose_match_example_does_not_match()
    {
        var result = TryCompile(("org.yaml", """
            rules:
              - capability: filesystem.write
                conditions: { path_prefix: /workspace/tmp }
                tier: autonomous
                examples:
                  match:
                    - { capability: filesystem.write, arguments: { path: /workspace/src/a } }
            """));
        var error = Assert.Single(result.Errors);
        Assert.Equal(DiagnosticCodes.ExampleFailed, error.Code);
        Assert.Equal(7, error.Location.Line);
        Assert.Contains("no rule in the file matches it", error.Message);
    }

    [Fact]
    public void Should_reject_a_match_example_that_an_earlier_rule_decides()
    {
        var result = TryCompile(("org.yaml", """
            rules:
              - capability: filesystem.*
                tier: notify
              - capability: filesystem.write
                tier: autonomous
                examples:
                  match: [ { arguments: { path: /workspace/a } } ]
            """));
        var error = Assert.Single(result.Errors);
        Assert.Contains("the rule at line 2", error.Message);
    }

    [Fact]
    public void Should_reject_a_file_whose_not_match_example_matches()
    {
        var result = TryCompile(("org.yaml", """
            capabilities:
              process.run:
                tier: blocked
                conditions: { argument: command, matches: "^git$" }
                examples:
                  not_match:
                    - arguments: { command: git }
            """));
        var error = Assert.Single(result.Errors);
        Assert.Equal(DiagnosticCodes.ExampleFailed, error.Code);
        Assert.Contains("should not match", error.Message);
    }

    [Fact]
    public void Should_require_a_capability_in_examples_of_glob_rules()
    {
        var result = TryCompile(("org.yaml", "rules:\n  - capability: filesystem.*\n    tier: notify\n    examples: { match: [ { arguments: {} } ] }\n"));
        Assert.Contains("needs a 'capability'", Assert.Single(result.Errors).Message);
    }

    [Fact]
    public void Should_warn_about_unreachable_shadowed_and_unknown_rules_without_failing()
    {
        var result = TryCompile(("org.yaml", """
            rules:
              - capability: filesystem.*
                tier: notify
              - capability: filesystem.read
                tier: autonomous
              - capability: network.http_request
                conditions: { argument: method, equals: GET }
                tier: autonomous
              - capability: network.http_request
                conditions: { argument: method, equals: GET }
                tier: blocked
              - capability: state.session.get
                tier: notify
              - capability: state.session.*
                tier: blocked
              - capability: nothing.here
                tier: blocked
              - capability: secrets.read_raw
                tier: blocked
            """));
        Assert.True(result.Succeeded);
        Assert.Equal(
            [(DiagnosticCodes.Unreachable, 4), (DiagnosticCodes.Shadowed, 9), (DiagnosticCodes.Shadowed, 14), (DiagnosticCodes.NoSuchCapability, 16)],
            result.Warnings.Select(w => (w.Code, w.Location.Line)));
        Assert.Equal(result.Warnings, result.Set!.Warnings);
    }

    [Fact]
    public void Should_put_own_rules_before_an_extended_templates_rules()
    {
        var set = Compile(("org.yaml", "extends: team-moderate\nrules:\n  - capability: git.push\n    tier: notify\n"));
        Assert.Equal(Tier.Notify, Decide(set, "git.push", """{"path":"/workspace/r"}""").Tier);
        Assert.Equal(Tier.ApprovalRequired, Decide(set, "filesystem.delete", """{"path":"/workspace/r"}""").Tier);
        var fromTemplate = Decide(set, "filesystem.delete", """{"path":"/workspace/r"}""");
        Assert.StartsWith("template:team-moderate:", fromTemplate.RuleReference);
        Assert.Equal("team-moderate", PolicyTemplates.TemplateOf(fromTemplate.RuleReference));
        Assert.StartsWith("org(approval_required template:team-moderate:", fromTemplate.Trace[2].ToString(), StringComparison.Ordinal);
        Assert.Equal(Tier.Notify, set.Org!.DefaultTier);
        Assert.True(set.Org.Rules[^1].IsDefault);
    }

    [Theory]
    [InlineData("agents/bot.yaml:2", "agents/bot.yaml", null, 2)]
    [InlineData("template:team-moderate:17", null, "team-moderate", 17)]
    [InlineData("system:deny_dangerous_commands", null, null, null)]
    [InlineData("default:system.time", null, null, null)]
    public void Should_say_where_a_rule_is_written_and_that_a_template_is_not_a_file(string reference, string? file, string? template, int? line)
    {
        Assert.Equal((file, line), PolicyJson.SplitReference(reference));
        Assert.Equal(template, PolicyTemplates.TemplateOf(reference));
    }

    [Fact]
    public void Should_report_a_template_rule_with_the_template_and_the_file_that_extends_it()
    {
        // arrange: filesystem.delete is decided by team-moderate's own rule
        var set = Compile(("org.yaml", "extends: team-moderate\n"));
        var line = Array.FindIndex(PolicyTemplates.Get("team-moderate").Split('\n'), l => l.TrimEnd() == "  - capability: filesystem.delete") + 1;

        // act
        var json = PolicyJson.Decision(Decide(set, "filesystem.delete", """{"path":"/workspace/r"}"""));

        // assert
        Assert.Equal($"template:team-moderate:{line}", json["rule"]!.GetValue<string>());
        Assert.Null(json["file"]);
        Assert.Equal("team-moderate", json["template"]!.GetValue<string>());
        Assert.Equal("org.yaml", json["via"]!.GetValue<string>());
        Assert.Equal(line, json["line"]!.GetValue<int>());
    }

    [Fact]
    public void Should_change_the_revision_when_any_file_changes()
    {
        var a = PolicyCompiler.Revision(new Dictionary<string, string> { ["org.yaml"] = "rules: []" });
        var b = PolicyCompiler.Revision(new Dictionary<string, string> { ["org.yaml"] = "rules: [] " });
        var c = PolicyCompiler.Revision(new Dictionary<string, string> { ["./org.yaml"] = "rules: []" });
        Assert.NotEqual(a, b);
        Assert.Equal(a, c);
        Assert.Equal(12, a.Length);
    }

    [Fact]
    public void Should_reject_two_files_for_the_same_agent()
    {
        var result = TryCompile(("agents/bot.yaml", ""), ("agents/bot.yml", ""));
        Assert.Contains("a second policy file", Assert.Single(result.Errors).Message);
    }
}
