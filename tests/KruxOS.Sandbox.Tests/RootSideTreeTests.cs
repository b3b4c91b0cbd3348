using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Sandbox.Trash;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// Issue 14, item 1, second half: the gateway works as root on trees the agent can write (its trash, its
/// workspace). Whatever the agent planted there — ids, paths, symlinks, hard links, set-id bits — must not
/// make root delete, chown or keep anything outside that tree.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class RootSideTreeTests(SandboxFixture f)
{
    private static readonly DateTimeOffset Past = DateTimeOffset.UtcNow.AddDays(-2);

    /// <summary>A root-owned directory outside every agent tree, with a file in it.</summary>
    private static string Victim()
    {
        var dir = Directory.CreateTempSubdirectory("kruxos-victim-").FullName;
        File.WriteAllText(Path.Combine(dir, "precious.txt"), "keep me");
        return dir;
    }

    private static void AssertIntact(string victim)
    {
        Assert.True(Directory.Exists(victim), $"{victim} was deleted");
        Assert.Equal("keep me", File.ReadAllText(Path.Combine(victim, "precious.txt")));
        Assert.Equal(0u, NativeTest.OwnerUid(victim));
        Assert.Equal(0u, NativeTest.OwnerUid(Path.Combine(victim, "precious.txt")));
    }

    /// <summary>A trash slot as the agent's worker could leave it: an expired meta.json with whatever it likes.</summary>
    private string Slot(string agent, string slotName, string trashId)
    {
        var slot = Path.Combine(f.DataDirectory, "trash", agent, slotName);
        Directory.CreateDirectory(slot);
        File.WriteAllText(Path.Combine(slot, "meta.json"), new JsonObject
        {
            ["trash_id"] = trashId, ["original_path"] = "/workspace/x", ["type"] = "directory", ["size"] = 0,
            ["deleted_at"] = Past.AddDays(-1).ToString("O"), ["recoverable_until"] = Past.ToString("O"), ["deleted_by"] = agent,
        }.ToJsonString());
        return slot;
    }

    private static string Id(int n) => $"20260101T00000{n}Z-0000000{n}";

    [Fact]
    public async Task Should_not_delete_outside_the_trash_whatever_trash_id_the_metadata_claims()
    {
        const string A = "trash-ids";
        await f.Ok(A, "filesystem.list", new { path = "." }); // the agent's trash directory exists
        var absolute = Victim();
        var relative = Victim();
        var linked = Victim();
        Slot(A, Id(1), absolute);                                                  // Path.Combine drops the prefix
        Slot(A, Id(2), "../../../../../../.." + relative);                         // climbs out
        Slot(A, Id(3), "link");                                                    // names a symlink the agent planted
        File.CreateSymbolicLink(Path.Combine(f.DataDirectory, "trash", A, "link"), linked);

        var removed = TrashCleaner.Cleanup(f.DataDirectory, DateTimeOffset.UtcNow);

        AssertIntact(absolute);
        AssertIntact(relative);
        AssertIntact(linked);
        // The expired slots themselves are gone, listed under their own (validated) names.
        Assert.Equal([Id(1), Id(2), Id(3)], removed.Where(i => i.Agent == A).Select(i => i.TrashId).Order());
        foreach (var n in new[] { 1, 2, 3 }) Assert.False(Directory.Exists(Path.Combine(f.DataDirectory, "trash", A, Id(n))));
    }

    [Fact]
    public async Task Should_remove_planted_symlinks_as_links_and_leave_what_they_point_to()
    {
        const string A = "trash-links";
        await f.Ok(A, "filesystem.list", new { path = "." });
        var item = Victim();
        var nested = Victim();
        var asSlot = Victim();
        var slot = Slot(A, Id(4), Id(4));
        File.CreateSymbolicLink(Path.Combine(slot, "item"), item);                 // the item is a link to a directory
        Directory.CreateDirectory(Path.Combine(slot, "deep", "er"));
        File.CreateSymbolicLink(Path.Combine(slot, "deep", "er", "up"), nested);   // a link deeper down
        File.CreateSymbolicLink(Path.Combine(f.DataDirectory, "trash", A, Id(5)), asSlot); // the slot itself is a link
        File.WriteAllText(Path.Combine(asSlot, "meta.json"), File.ReadAllText(Path.Combine(slot, "meta.json")));

        TrashCleaner.Cleanup(f.DataDirectory, DateTimeOffset.UtcNow);

        AssertIntact(item);
        AssertIntact(nested);
        AssertIntact(asSlot);
        Assert.True(File.Exists(Path.Combine(asSlot, "meta.json")));
        Assert.False(Directory.Exists(slot));
    }

    [Fact]
    public void Should_list_only_slots_with_valid_names_and_take_the_id_from_the_name()
    {
        const string A = "trash-list";
        Slot(A, Id(6), "/etc");
        Slot(A, "not-an-id", "not-an-id");
        Directory.CreateDirectory(Path.Combine(f.DataDirectory, "trash", "Not A Valid Agent!", Id(7)));
        var mine = TrashCleaner.List(f.DataDirectory).Where(i => i.Agent == A).ToList();
        var item = Assert.Single(mine);
        Assert.Equal(Id(6), item.TrashId);
        Assert.DoesNotContain(TrashCleaner.List(f.DataDirectory), i => i.Agent == "Not A Valid Agent!");
    }

    [Fact]
    public async Task Should_never_hand_a_file_outside_the_workspace_to_the_agent_when_taking_over_its_tree()
    {
        // A workspace the agent's uid does not own yet (first start, or a new uid) is given to it recursively.
        const string A = "chown-walk";
        var ws = Path.Combine(f.DataDirectory, "workspace", A);
        var victimDir = Victim();
        var victimFile = Path.Combine(Victim(), "precious.txt");
        Directory.CreateDirectory(Path.Combine(ws, "sub"));
        File.WriteAllText(Path.Combine(ws, "sub", "mine.txt"), "agent data");
        File.CreateSymbolicLink(Path.Combine(ws, "to-victim"), victimDir);        // a directory symlink
        File.CreateSymbolicLink(Path.Combine(ws, "sub", "to-file"), victimFile);  // a file symlink
        Assert.Equal(0, NativeTest.Link(victimFile, Path.Combine(ws, "hard")));    // a hard link to a file outside
        Directory.CreateDirectory(Path.Combine(ws, "shared"));
        File.SetUnixFileMode(Path.Combine(ws, "shared"), (UnixFileMode)0x5FD);      // 02775: setgid directory
        File.WriteAllText(Path.Combine(ws, "sub", "tool"), "#!/bin/sh\n");
        File.SetUnixFileMode(Path.Combine(ws, "sub", "tool"), (UnixFileMode)0x9ED); // 04755: setuid file

        await f.Ok(A, "filesystem.list", new { path = "." });

        var uid = f.Host.HostUidFor(AgentName.Parse(A));
        AssertIntact(victimDir);
        Assert.Equal(0u, NativeTest.OwnerUid(victimFile));
        Assert.Equal(uid, NativeTest.OwnerUid(Path.Combine(ws, "sub", "mine.txt")));
        Assert.Equal(uid, NativeTest.OwnerUid(Path.Combine(ws, "to-victim")));     // the link itself
        Assert.Equal(uid, NativeTest.OwnerUid(Path.Combine(ws, "shared")));
        Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(Path.Combine(ws, "shared")) & (UnixFileMode.SetGroup | UnixFileMode.SetUser));
        Assert.Equal((UnixFileMode)0, File.GetUnixFileMode(Path.Combine(ws, "sub", "tool")) & (UnixFileMode.SetGroup | UnixFileMode.SetUser));
    }

    [Fact]
    public void Should_refuse_mount_sources_inside_agent_writable_trees()
    {
        var inWorkspace = Path.Combine(f.Workspace("mount-src"), "sub");
        Directory.CreateDirectory(inWorkspace);
        var e = Assert.Throws<ArgumentException>(() => f.Host.Mounts.Add("mount-src", inWorkspace, "own", readOnly: true));
        Assert.Contains("data directory", e.Message);
        Assert.Throws<ArgumentException>(() => f.Host.Mounts.Add("mount-src", Path.Combine(f.DataDirectory, "trash"), "trash", readOnly: true));
    }

    [Fact]
    public async Task Should_leave_out_a_mount_whose_source_was_swapped_for_a_symlink()
    {
        const string A = "mount-swap";
        var parent = Directory.CreateTempSubdirectory("kruxos-swap-").FullName;
        var source = Path.Combine(parent, "data");
        Directory.CreateDirectory(source);
        File.WriteAllText(Path.Combine(source, "ok.txt"), "mounted");
        File.SetUnixFileMode(parent, (UnixFileMode)0x1ED);
        File.SetUnixFileMode(source, (UnixFileMode)0x1ED);
        var secret = Victim();
        File.SetUnixFileMode(secret, (UnixFileMode)0x1ED);
        File.SetUnixFileMode(Path.Combine(secret, "precious.txt"), (UnixFileMode)0x1A4);
        try
        {
            f.Host.Mounts.Add(A, source, "data", readOnly: true);
            await f.Host.StopAgentAsync(AgentName.Parse(A), TestContext.Current.CancellationToken);
            Assert.Equal("mounted", (await f.Ok(A, "filesystem.read", new { path = "/mnt/data/ok.txt" })).GetProperty("content").GetString());
            await f.Host.StopAgentAsync(AgentName.Parse(A), TestContext.Current.CancellationToken);
            Directory.Move(source, source + ".old");
            File.CreateSymbolicLink(source, secret);
            var r = await f.Call(A, "filesystem.read", new { path = "/mnt/data/precious.txt" });
            Assert.False(r.IsSuccess, "the swapped-in directory was mounted");
            var run = await f.Ok(A, "process.run", new { command = "cat", args = new[] { "/mnt/data/precious.txt" } });
            Assert.DoesNotContain("keep me", run.GetProperty("stdout_summary").GetString());
        }
        finally
        {
            f.Host.Mounts.Remove(A, "data");
            await f.Host.StopAgentAsync(AgentName.Parse(A), TestContext.Current.CancellationToken);
            Directory.Delete(parent, true);
        }
    }
}
