using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Core.Tests.Capabilities;

/// <summary>
/// The shipped definitions carry exactly the knowledge the name tables in generic code held before (ADR 0032): the
/// expected values below are those tables and rules, written out.
/// </summary>
public sealed class DefinitionDataSpecs
{
    private static readonly IReadOnlyList<CapabilityDefinition> All = DefinitionLoader.BuiltIn();

    private static CapabilityDefinition Get(string name) => All.Single(d => d.Name.Value == name);

    // The removed SystemProtections table and its tag rule.
    private static readonly Dictionary<string, string[]> OldTable = new()
    {
        ["filesystem.write"] = ["path"], ["filesystem.edit"] = ["path"], ["filesystem.append"] = ["path"], ["filesystem.delete"] = ["path"],
        ["filesystem.restore"] = ["path", "destination"], ["filesystem.move"] = ["source", "destination"], ["filesystem.copy"] = ["destination"],
        ["network.download"] = ["path"], ["git.clone"] = ["path"], ["state.backup.export"] = ["path"],
    };

    private static string[] OldWrittenPaths(CapabilityDefinition d) =>
        OldTable.TryGetValue(d.Name.Value, out var t) ? t
        : d.Tags.Contains("write") || d.Tags.Contains("destructive") ? [.. d.Inputs.Where(i => i.Type == InputType.FilesystemPath).Select(i => i.Name)]
        : [];

    private static JsonElement Args(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Fact]
    public void Should_declare_the_written_paths_the_old_table_and_tag_rule_produced_for_every_shipped_definition()
    {
        Assert.Equal(93, All.Count); // the 92 of the spec, plus proxy.cancel_write
        foreach (var d in All)
            Assert.True(OldWrittenPaths(d).SequenceEqual(d.WrittenPathInputs()), $"{d.Name}: [{string.Join(", ", d.WrittenPathInputs())}]");
        Assert.Equal(["source", "destination"], Get("filesystem.move").WrittenPaths);
        Assert.Equal(["destination"], Get("filesystem.copy").WrittenPaths);
    }

    [Fact]
    public void Should_give_process_run_its_timeout_and_git_five_minutes_and_nothing_else_a_duration()
    {
        var run = Get("process.run");
        Assert.Equal(TimeSpan.FromSeconds(300), run.MaxDurationFor(Args("{}")));
        Assert.Equal(TimeSpan.FromSeconds(42), run.MaxDurationFor(Args("""{"timeout":42}""")));
        Assert.Equal(TimeSpan.FromSeconds(3600), run.MaxDurationFor(Args("""{"timeout":99999}""")));
        foreach (var d in All)
        {
            if (d.Name.Category == "git") Assert.Equal(TimeSpan.FromMinutes(5), d.MaxDurationFor(Args("{}")));
            else if (d.Name.Category == "network") continue; // below: their timeouts
            else if (d.Name.Value == "state.backup.export") Assert.Equal(TimeSpan.FromSeconds(300), d.MaxDurationFor(Args("{}")));
            else if (d.Name.Value != "process.run") Assert.Null(d.MaxDurationFor(Args("{}")));
        }
    }

    [Fact]
    public void Should_give_the_network_requests_their_timeout_the_download_five_minutes_and_the_lookup_none()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), Get("network.http_request").MaxDurationFor(Args("{}")));
        Assert.Equal(TimeSpan.FromSeconds(300), Get("network.http_request").MaxDurationFor(Args("""{"timeout":9999}""")));
        Assert.Equal(TimeSpan.FromSeconds(30), Get("network.credentialed_request").MaxDurationFor(Args("{}")));
        Assert.Equal(TimeSpan.FromSeconds(5), Get("network.port_check").MaxDurationFor(Args("{}")));
        Assert.Equal(TimeSpan.FromSeconds(300), Get("network.download").MaxDurationFor(Args("{}")));
        Assert.Null(Get("network.dns_lookup").MaxDurationFor(Args("{}")));
        Assert.All(All.Where(d => d.Name.Category == "network"), d => Assert.Equal(ExecutionMode.Network, d.Execution));
    }

    [Fact]
    public void Should_name_the_guards_and_remote_access_the_generic_code_hard_coded()
    {
        foreach (var d in All)
        {
            ICallGuard[] guards = d.Name.Value switch
            {
                "process.run" => [CallGuards.DangerousCommands],
                "git.clone" => [CallGuards.GitRemote],
                _ => [],
            };
            Assert.Equal(guards, d.Guards);
            var remote = d.Name.Value is "git.clone" or "git.pull" or "git.push" ? RemoteAccess.Git : RemoteAccess.None;
            Assert.Equal(remote, d.Remote);
        }
        Assert.Same(SystemProtections.DangerousCommands, CallGuards.DangerousCommands.Protection);
        Assert.Same(SystemProtections.GitRemoteNotAllowed, CallGuards.GitRemote.Protection);
    }
}
