using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Core.Tests.Capabilities;

/// <summary>The definition fields that replace name tables: each parses, and each misuse fails loading (ADR 0032).</summary>
public sealed class DefinitionLoaderDataSpecs
{
    private static string Yaml(string fields, string inputs = "", string tags = "[write]", string execution = "sandboxed") => $"""
        capabilities:
          - name: pack.save
            purpose: Saves a note.
            execution: {execution}
            tags: {tags}
        {fields}
            inputs:
              - {"{"} name: target, type: FilesystemPath, required: true {"}"}
              - {"{"} name: wait, type: Integer, default: 30, maximum: 600 {"}"}
              - {"{"} name: loose, type: Integer {"}"}
              - {"{"} name: text, type: String {"}"}
        {inputs}
        """;

    private static CapabilityDefinition Load(string yaml) => DefinitionLoader.Parse(yaml, "pack.yaml").Single();

    private static string Refused(string yaml) => Assert.Throws<FormatException>(() => DefinitionLoader.Parse(yaml, "pack.yaml")).Message;

    [Fact]
    public void Should_parse_every_new_field()
    {
        var d = Load(Yaml("""
                written_paths: [target]
                duration_input: wait
                guards: [dangerous_commands, git_remote]
                remote_access: git
            """, "      - { name: secret, type: String, names_secret: true }"));
        Assert.Equal(["target"], d.WrittenPaths);
        Assert.Equal(TimeSpan.FromSeconds(30), d.MaxDurationFor(JsonDocument.Parse("{}").RootElement));
        Assert.Equal(TimeSpan.FromSeconds(600), d.MaxDurationFor(JsonDocument.Parse("""{"wait":9000}""").RootElement));
        Assert.Equal([CallGuards.DangerousCommands, CallGuards.GitRemote], d.Guards);
        Assert.Equal(RemoteAccess.Git, d.Remote);
        Assert.True(d.Inputs.Single(i => i.Name == "secret").NamesSecret);
        Assert.False(d.Inputs.Single(i => i.Name == "text").NamesSecret);
        Assert.Equal(TimeSpan.FromSeconds(12), Load(Yaml("    written_paths: []\n    max_duration_seconds: 12")).MaxDurationFor(default));
    }

    [Fact]
    public void Should_refuse_a_write_tagged_definition_with_path_inputs_that_does_not_declare_written_paths()
    {
        Assert.Contains("must declare written_paths", Refused(Yaml("")));
        Assert.Contains("must declare written_paths", Refused(Yaml("", tags: "[destructive]")));
        Assert.Empty(Load(Yaml("    written_paths: []")).WrittenPaths);
        Assert.True(Load(Yaml("", tags: "[read]")).WrittenPaths.IsDefault);
    }

    [Theory]
    [InlineData("    written_paths: [nosuch]", "not a FilesystemPath input")]
    [InlineData("    written_paths: [text]", "not a FilesystemPath input")]
    [InlineData("    written_paths: []\n    max_duration_seconds: 5\n    duration_input: wait", "both")]
    [InlineData("    written_paths: []\n    max_duration_seconds: 0", "positive")]
    [InlineData("    written_paths: []\n    duration_input: loose", "maximum")]
    [InlineData("    written_paths: []\n    duration_input: text", "numeric")]
    [InlineData("    written_paths: []\n    duration_input: nosuch", "not an input")]
    [InlineData("    written_paths: []\n    guards: [rm_rf_checker]", "unknown guard")]
    [InlineData("    written_paths: []\n    remote_access: everywhere", "unknown remote_access")]
    public void Should_refuse_a_misused_field(string fields, string expected) => Assert.Contains(expected, Refused(Yaml(fields)));

    [Fact]
    public void Should_refuse_remote_access_on_an_in_process_definition_and_names_secret_on_a_non_string()
    {
        Assert.Contains("sandboxed capabilities only", Refused(Yaml("    written_paths: []\n    remote_access: git", execution: "in_process")));
        Assert.Contains("names a secret", Refused(Yaml("    written_paths: []", "      - { name: n, type: Integer, names_secret: true }")));
    }
}
