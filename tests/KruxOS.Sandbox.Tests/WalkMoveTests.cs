using System.Text.Json;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// ADR 0028 for a directory move, in the sandbox: the move renames the whole tree at once, so the sandbox lists every
/// entry it would carry (and where each lands), the guard decides each, and an entry the guard did not decide — one that
/// appeared after the listing — makes the move refuse instead of carrying it. Every path is in the fixture's own
/// temporary workspace.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class WalkMoveTests(SandboxFixture f)
{
    private const string A = "walkmover";

    private async Task<SandboxResult> Move(object args, WalkGuard guard)
    {
        Assert.True(SandboxFixture.Registry.TryResolve("filesystem.move", out var def));
        Assert.True(ArgumentValidator.TryValidate(def, JsonSerializer.SerializeToElement(args, CoreJson.Options), out var normalized, out var error), error?.Message);
        return await f.Host.ExecuteAsync(new SandboxRequest(AgentName.Parse(A), def.Name, normalized, WalkGuard: guard), TestContext.Current.CancellationToken);
    }

    // A fresh directory under the agent's workspace, written by the agent itself: (agent path, host path).
    private async Task<(string Agent, string Host)> Fresh()
    {
        var name = "mv-" + Guid.NewGuid().ToString("N")[..8];
        await f.Ok(A, "filesystem.write", new { path = name + "/tree/sub/a.txt", content = "a", create_parents = true });
        await f.Ok(A, "filesystem.write", new { path = name + "/tree/.hidden", content = "h" });
        return ("/workspace/" + name, Path.Combine(f.Workspace(A), name));
    }

    [Fact]
    public async Task Should_decide_every_entry_a_directory_move_carries_at_its_old_and_its_new_path()
    {
        // arrange
        var (dir, host) = await Fresh();
        var seen = new List<(string Argument, string Path)>();

        // act
        var r = await Move(new { source = dir + "/tree", destination = dir + "/moved" }, (argument, path) => { lock (seen) seen.Add((argument, path)); return null; });

        // assert: hidden entries too, each at its source path and at the path it is written to
        Assert.True(r.IsSuccess, r.Error?.Message);
        foreach (var rel in new[] { "sub", "sub/a.txt", ".hidden" })
        {
            Assert.Contains(("source", $"{dir}/tree/{rel}"), seen);
            Assert.Contains(("destination", $"{dir}/moved/{rel}"), seen);
        }
        Assert.True(File.Exists(Path.Combine(host, "moved", "sub", "a.txt")));
    }

    [Fact]
    public async Task Should_refuse_a_directory_move_naming_the_entry_the_guard_holds_back_and_move_nothing()
    {
        // arrange
        var (dir, host) = await Fresh();

        // act
        var r = await Move(new { source = dir + "/tree", destination = dir + "/moved" },
            (argument, path) => argument == "destination" && path.EndsWith("/a.txt", StringComparison.Ordinal) ? Errors.Internal($"held: {path}") : null);

        // assert
        Assert.False(r.IsSuccess);
        Assert.Contains($"{dir}/moved/sub/a.txt", r.Error!.Message, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(host, "tree", "sub", "a.txt")));
        Assert.False(Directory.Exists(Path.Combine(host, "moved")));
    }

    [Fact]
    public async Task Should_refuse_a_directory_move_when_an_entry_appears_after_the_listing()
    {
        // arrange: the guard runs between the listing and the move; the first time it runs, a new entry appears
        var (dir, host) = await Fresh();
        var late = Path.Combine(host, "tree", "sub", "late.txt");
        var once = 0;

        // act
        var r = await Move(new { source = dir + "/tree", destination = dir + "/moved" }, (_, _) =>
        {
            if (Interlocked.Exchange(ref once, 1) == 0) File.WriteAllText(late, "undecided");
            return null;
        });

        // assert: refused naming the undecided entry; nothing moved
        Assert.False(r.IsSuccess, "the move carried an entry nobody decided");
        Assert.Equal("DirectoryChanged", r.Error!.ErrorType);
        Assert.Equal($"{dir}/tree/sub/late.txt", r.Error.ContextString("path"));
        Assert.True(File.Exists(late));
        Assert.False(Directory.Exists(Path.Combine(host, "moved")));
    }

    [Fact]
    public async Task Should_move_a_link_to_a_directory_as_itself_without_deciding_what_it_points_to()
    {
        // arrange
        var (dir, host) = await Fresh();
        File.CreateSymbolicLink(Path.Combine(host, "link"), "tree");
        var seen = 0;

        // act
        var r = await Move(new { source = dir + "/link", destination = dir + "/link2" }, (_, _) => { Interlocked.Increment(ref seen); return Errors.Internal("nothing below a link is moved"); });

        // assert
        Assert.True(r.IsSuccess, r.Error?.Message);
        Assert.Equal(0, seen);
        Assert.Equal("tree", new FileInfo(Path.Combine(host, "link2")).LinkTarget);
        Assert.True(File.Exists(Path.Combine(host, "tree", "sub", "a.txt")));
    }
}
