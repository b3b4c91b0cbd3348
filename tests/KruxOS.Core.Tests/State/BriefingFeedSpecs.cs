using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.State.Briefings;
using Xunit;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>The briefing feeds' rules (ADR 0057): workspace changes, process ends, policy revisions, bounded rings.</summary>
public sealed class BriefingFeedSpecs
{
    private static JsonElement J(string json) => JsonDocument.Parse(json).RootElement.Clone();

    [Theory]
    [InlineData("filesystem.write", """{"path":"/workspace/a.txt","content":"x"}""", """{"path":"/workspace/a.txt"}""", "/workspace/a.txt", "written")]
    [InlineData("filesystem.append", """{"path":"/workspace/log","content":"x"}""", """{}""", "/workspace/log", "appended")]
    [InlineData("filesystem.delete", """{"path":"/workspace/old"}""", """{}""", "/workspace/old", "deleted")]
    [InlineData("filesystem.move", """{"source":"/workspace/a","destination":"/workspace/b"}""", """{}""", "/workspace/b", "moved")]
    [InlineData("filesystem.copy", """{"source":"/workspace/a","destination":"/workspace/c"}""", """{}""", "/workspace/c", "copied")]
    [InlineData("filesystem.edit", """{"path":"/workspace/e","pattern":"a","replace":"b"}""", """{"applied":"full","files_changed":1}""", "/workspace/e", "edited")]
    [InlineData("filesystem.restore", """{"trash_id":"t-1"}""", """{"restored_path":"/workspace/back"}""", "/workspace/back", "restored")]
    public void Should_record_what_a_successful_call_changed_from_the_validated_arguments(string capability, string args, string result, string path, string change)
    {
        var c = BriefingFeedRules.FileChangeOf(capability, J(args), J(result), T0);
        Assert.NotNull(c);
        Assert.Equal(new BriefingFileChange(path, change, T0), c);
    }

    [Theory]
    [InlineData("filesystem.read", """{"path":"/workspace/a"}""", """{}""")]
    [InlineData("filesystem.list", """{"path":"/workspace"}""", """{}""")]
    [InlineData("process.run", """{"command":"ls"}""", """{}""")]
    [InlineData("filesystem.edit", """{"path":"/workspace/e","pattern":"a","replace":"b","dry_run":true}""", """{"applied":"full","files_changed":1}""")]
    [InlineData("filesystem.edit", """{"path":"/workspace/e","pattern":"a","replace":"b"}""", """{"applied":"preview","files_changed":1}""")]
    [InlineData("filesystem.edit", """{"path":"/workspace/e","pattern":"a","replace":"b"}""", """{"applied":"full","files_changed":0}""")]
    public void Should_record_nothing_for_reads_other_capabilities_and_edits_that_changed_nothing(string capability, string args, string result) =>
        Assert.Null(BriefingFeedRules.FileChangeOf(capability, J(args), J(result), T0));

    [Fact]
    public void Should_bound_a_recorded_path_whatever_length_the_agent_chose()
    {
        var longPath = "/workspace/" + new string('a', 5000);
        var c = BriefingFeedRules.FileChangeOf("filesystem.write", J($$"""{"path":"{{longPath}}"}"""), J("{}"), T0)!;
        Assert.Equal(BriefingFeedRules.MaxPathChars, c.Path.Length);
        Assert.EndsWith("…", c.Path);
    }

    [Theory]
    [InlineData("completed", 3, "exited", 3)]
    [InlineData("killed", null, "killed", null)]
    [InlineData("timed_out", null, "timed_out", null)]
    public void Should_name_a_process_end_by_the_state_the_host_set(string state, int? code, string expected, int? expectedCode)
    {
        var e = BriefingFeedRules.ProcessEventOf("p-1", state, code, T0)!;
        Assert.Equal(expected, e.Event);
        Assert.Equal(expectedCode, e.ExitCode);
        Assert.Null(BriefingFeedRules.ProcessEventOf("p-1", "running", null, T0));
    }

    [Fact]
    public void Should_keep_only_the_newest_entries_of_a_ring()
    {
        var ring = ImmutableArray<int>.Empty;
        for (var i = 0; i < 10; i++) ring = BriefingFeedRules.Append(ring, i, 4);
        Assert.Equal([6, 7, 8, 9], ring);
        Assert.Equal([1], BriefingFeedRules.Append(default, 1, 4));
    }

    [Fact]
    public void Should_name_the_layers_whose_files_were_added_changed_or_removed()
    {
        var before = new Dictionary<string, string> { ["org.yaml"] = "1", ["agents/bot.yaml"] = "2", ["agents/old.yaml"] = "3", ["user.yaml"] = "4" };
        var after = new Dictionary<string, string> { ["org.yaml"] = "1b", ["agents/bot.yaml"] = "2", ["agents/new.yaml"] = "5", ["user.yaml"] = "4", ["system.yaml"] = "6" };
        Assert.Equal(["agent:new", "agent:old", "org", "system"], BriefingFeedRules.ChangedLayers(before, after));
        Assert.Empty(BriefingFeedRules.ChangedLayers(before, before));
    }

    [Fact]
    public void Should_tell_an_agent_only_of_updates_after_start_that_changed_a_layer_applying_to_it()
    {
        PolicyRevisionRecord R(string rev, int minute, bool initial, params string[] layers) => new(rev, T0.AddMinutes(minute), [.. layers], initial);
        var revisions = new[]
        {
            R("r0", 0, true, "org", "agent:bot"),
            R("r1", 1, false, "agent:other"),
            R("r2", 2, false, "user"),
            R("r3", 3, false, "org", "agent:other"),
            R("r4", 4, false, "agent:bot"),
            R("r5", 5, false, "system"),
        };
        var updates = BriefingFeedRules.UpdatesFor(revisions, "bot");
        Assert.Equal(["r3", "r4", "r5"], updates.Select(u => u.Revision));
        // Another agent's file is never named to this one.
        Assert.Equal(["org"], updates[0].Layers!);
        Assert.Equal(["agent:bot"], updates[1].Layers!);
    }

    [Fact]
    public void Should_say_when_the_window_starts_before_the_nodes_history_and_not_otherwise()
    {
        var inputs = new BriefingInputs(AgentName.Parse("bot"), null, T0, [], 0, [], [], [new BriefingFileChange("/workspace/a", "written", T0.AddMinutes(30))],
            [new BriefingProcessEvent("p-1", "exited", 0, T0.AddMinutes(31))], [], [], new BriefingHealth("healthy", [])) { HistoryFrom = T0.AddMinutes(20) };

        var early = Assert.IsType<BriefingResult>(Briefings.Generate(inputs, "2026-03-25T14:00:00Z", null, T0.AddHours(1))).Briefing;
        Assert.Equal(T0.AddMinutes(20), early.HistoryFrom);
        Assert.EndsWith("File changes, process events and policy updates are known from 2026-03-25T14:20:00Z only.", early.Summary);
        Assert.Equal(1, early.FilesystemChanges);
        Assert.Equal(1, early.ProcessEvents);

        var late = Assert.IsType<BriefingResult>(Briefings.Generate(inputs, "2026-03-25T14:25:00Z", null, T0.AddHours(1))).Briefing;
        Assert.Null(late.HistoryFrom);
        Assert.DoesNotContain("known from", late.Summary);
    }
}
