using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.CliHook.Tests.Support;
using KruxOS.Core.Capabilities;

namespace KruxOS.CliHook.Tests.Unit;

/// <summary>
/// Every recorded event of both clients maps to the expected capability calls, and every mapped call is
/// valid input for the capability the gateway defines (network.http_request included: curl and WebFetch).
/// </summary>
public sealed class MappingSpecs
{
    public static TheoryData<string, string> Mapped => new()
    {
        // Claude Code native tools
        { "claude-code/read", """[{"capability":"filesystem.read","arguments":{"path":"src/app.py"}}]""" },
        { "claude-code/read-outside-cwd", """[{"capability":"filesystem.read","arguments":{"path":"/etc/hosts"}}]""" },
        { "claude-code/write", """[{"capability":"filesystem.write","arguments":{"path":"notes/todo.md","content":"- ship cli-hook\n"}}]""" },
        { "claude-code/edit", """[{"capability":"filesystem.edit","arguments":{"path":"src/app.py","pattern":"DEBUG = True","replace":"DEBUG = False","expected_replacements":1}}]""" },
        { "claude-code/edit-replace-all", """[{"capability":"filesystem.edit","arguments":{"path":"src/app.py","pattern":"colour","replace":"color","replace_all":true}}]""" },
        { "claude-code/multiedit", """[{"capability":"filesystem.edit","arguments":{"path":"src/app.py","pattern":"import os","replace":"import os\nimport sys","expected_replacements":1}},{"capability":"filesystem.edit","arguments":{"path":"src/app.py","pattern":"print(x)","replace":"log(x)","replace_all":true}}]""" },
        { "claude-code/glob", """[{"capability":"filesystem.search","arguments":{"path":"src","pattern":"**/*.cs"}}]""" },
        { "claude-code/glob-no-path", """[{"capability":"filesystem.search","arguments":{"path":".","pattern":"*.md"}}]""" },
        { "claude-code/grep", """[{"capability":"filesystem.search_content","arguments":{"path":".","pattern":"TODO\\(","regex":true,"case_sensitive":false,"include_glob":"*.py","files_only":true}}]""" },
        { "claude-code/webfetch", """[{"capability":"network.http_request","arguments":{"url":"https://docs.example.com/guide","method":"GET"}}]""" },
        // Claude Code Bash: simple commands to their capabilities, the rest to process.run
        { "claude-code/bash-cat", """[{"capability":"filesystem.read","arguments":{"path":"README.md"}}]""" },
        { "claude-code/bash-ls", """[{"capability":"filesystem.list","arguments":{"path":"src"}}]""" },
        { "claude-code/bash-grep", """[{"capability":"filesystem.search_content","arguments":{"path":"src/app.py","pattern":"TODO","regex":true}}]""" },
        { "claude-code/bash-curl", """[{"capability":"network.http_request","arguments":{"url":"https://api.example.com/status","method":"GET","follow_redirects":true}}]""" },
        { "claude-code/bash-git-status", """[{"capability":"git.status","arguments":{}}]""" },
        { "claude-code/bash-git-commit", """[{"capability":"git.commit","arguments":{"message":"Fix the parser"}}]""" },
        { "claude-code/bash-pipeline", """[{"capability":"process.run","arguments":{"command":"sh","args":["-c","cat log.txt | grep ERROR > errors.txt"]}}]""" },
        { "claude-code/bash-simple", """[{"capability":"process.run","arguments":{"command":"python3","args":["-m","pytest","tests"],"timeout":120}}]""" },
        { "claude-code/bash-background", """[{"capability":"process.run","arguments":{"command":"npm","args":["run","dev"],"background":true}}]""" },
        // Codex native tools
        { "codex/bash-git-log", """[{"capability":"git.log","arguments":{"limit":5}}]""" },
        { "codex/bash-git-push", """[{"capability":"git.push","arguments":{"remote":"origin","branch":"main"}}]""" },
        { "codex/bash-git-push-force", """[{"capability":"process.run","arguments":{"command":"git","args":["push","--force","origin","main"]}}]""" },
        { "codex/bash-complex", """[{"capability":"process.run","arguments":{"command":"sh","args":["-c","cd src && make -j2"]}}]""" },
        { "codex/shell-argv", """[{"capability":"filesystem.list","arguments":{"path":".","include_hidden":true}}]""" },
        { "codex/exec-command", """[{"capability":"process.run","arguments":{"command":"python3","args":["manage.py","migrate"]}}]""" },
        { "codex/apply-patch-add", """[{"capability":"filesystem.write","arguments":{"path":"docs/hello.md","content":"# Hello\n\nWritten by Codex.\n","create_parents":true}}]""" },
        { "codex/apply-patch-update", """[{"capability":"filesystem.edit","arguments":{"path":"src/app.py","pattern":"    print(\"hi\")\n    return 0","replace":"    print(\"hello\")\n    return 0","expected_replacements":1}},{"capability":"filesystem.move","arguments":{"source":"src/app.py","destination":"src/main.py"}}]""" },
        { "codex/apply-patch-delete", """[{"capability":"filesystem.delete","arguments":{"path":"build/old.log"}}]""" },
    };

    [Theory]
    [MemberData(nameof(Mapped))]
    public void Should_map_the_recorded_event_to_its_capability_calls(string fixture, string expected)
    {
        // act
        var mapping = ToolMapper.Map(Fixtures.Event(fixture));

        // assert
        Assert.Null(mapping.Denial);
        var actual = new JsonArray([.. mapping.Calls.Select(c => (JsonNode)new JsonObject { ["capability"] = c.Capability, ["arguments"] = c.Arguments.DeepClone() })]);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), actual), $"expected {expected}\nactual   {actual.ToJsonString()}");
    }

    [Theory]
    [MemberData(nameof(Mapped))]
    public void Should_produce_arguments_that_validate_against_the_capability_definition(string fixture, string expected)
    {
        Assert.NotEmpty(expected);
        var registry = new CapabilityRegistry(DefinitionLoader.BuiltIn());
        foreach (var call in ToolMapper.Map(Fixtures.Event(fixture)).Calls)
        {
            Assert.True(registry.TryResolve(call.Capability, out var definition), $"{fixture}: {call.Capability} is not a built-in capability");
            var args = JsonSerializer.SerializeToElement(call.Arguments);
            Assert.True(ArgumentValidator.TryValidate(definition, args, out _, out var error), $"{fixture}: {call.Capability} {args}: {error?.Message}");
        }
    }

    [Theory]
    [InlineData("claude-code/todowrite", "unmapped_tool")]
    [InlineData("codex/mcp-tool", "unmapped_tool")]
    [InlineData("claude-code/read-missing-path", "invalid_tool_input")]
    [InlineData("codex/apply-patch-malformed", "invalid_tool_input")]
    public void Should_deny_a_tool_it_cannot_map(string fixture, string code)
    {
        var mapping = ToolMapper.Map(Fixtures.Event(fixture));

        Assert.Empty(mapping.Calls);
        Assert.Equal(code, mapping.Denial!.Code);
        Assert.False(string.IsNullOrWhiteSpace(mapping.Denial.Reason));
    }

    [Fact]
    public void Every_fixture_is_covered_by_a_mapping_or_a_denial_spec()
    {
        var covered = Mapped.Select(row => row.Data.Item1).ToHashSet(StringComparer.Ordinal);
        covered.UnionWith(["claude-code/todowrite", "codex/mcp-tool", "claude-code/read-missing-path", "codex/apply-patch-malformed", "claude-code/post-tool-use"]);
        var uncovered = Fixtures.All().Where(f => !covered.Contains(f)).ToList();
        Assert.True(uncovered.Count == 0, "fixtures without a spec: " + string.Join(", ", uncovered));
    }

    [Theory]
    [InlineData("Edit", """{"file_path":"/home/dev/proj/a","old_string":"x"}""")]
    [InlineData("Write", """{"file_path":"/home/dev/proj/a"}""")]
    [InlineData("MultiEdit", """{"file_path":"/home/dev/proj/a","edits":[]}""")]
    [InlineData("MultiEdit", """{"file_path":"/home/dev/proj/a","edits":["x"]}""")]
    [InlineData("Glob", """{"path":"/home/dev/proj"}""")]
    [InlineData("Grep", """{"path":"/home/dev/proj"}""")]
    [InlineData("WebFetch", """{"prompt":"x"}""")]
    [InlineData("Bash", """{"command":"   "}""")]
    [InlineData("Bash", """{"description":"no command"}""")]
    [InlineData("shell", """{"command":[]}""")]
    [InlineData("shell", """{"command":["ls",1]}""")]
    [InlineData("apply_patch", """{"command":"*** Begin Patch\n*** Add File: a\nnot a plus line\n*** End Patch"}""")]
    [InlineData("apply_patch", """{"command":"*** Begin Patch\n*** Add File: a\n+x\n"}""")]
    [InlineData("apply_patch", """{"command":"*** Begin Patch\n*** End Patch"}""")]
    public void Should_deny_tool_input_it_cannot_read(string tool, string input)
    {
        var e = new HookEvent(HookClient.ClaudeCode, tool, JsonDocument.Parse(input).RootElement.Clone(), "/home/dev/proj", null);

        var mapping = ToolMapper.Map(e);

        Assert.Equal("invalid_tool_input", mapping.Denial?.Code);
    }
}
