using System.Text.Json;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// ADR 0023 in the worker: <c>paths.resolve</c> gives the path each operation would really open, and a call run on
/// decided paths opens exactly those — a symbolic link that appeared in one since makes it fail with PathOutOfScope.
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class DecidedPathTests(SandboxFixture f)
{
    private const string A = "decider";

    private async Task<SandboxResult> Resolve(string capability, Dictionary<string, string> paths) =>
        await f.Host.ResolvePathsAsync(AgentName.Parse(A), CapabilityName.Parse(capability), paths, TestContext.Current.CancellationToken);

    private async Task<SandboxResult> Decided(string capability, object args)
    {
        Assert.True(SandboxFixture.Registry.TryResolve(capability, out var def));
        Assert.True(ArgumentValidator.TryValidate(def, JsonSerializer.SerializeToElement(args, CoreJson.Options), out var normalized, out var error), error?.Message);
        return await f.Host.ExecuteAsync(new SandboxRequest(AgentName.Parse(A), def.Name, normalized, PathsDecided: true), TestContext.Current.CancellationToken);
    }

    private string Prepare()
    {
        var ws = f.Workspace(A);
        var unique = Path.Combine(ws, Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Path.Combine(unique, "secret"));
        File.WriteAllText(Path.Combine(unique, "secret", "s.txt"), "hidden");
        File.CreateSymbolicLink(Path.Combine(unique, "link"), "secret");
        return "/workspace/" + Path.GetFileName(unique);
    }

    [Fact]
    public async Task Should_resolve_paths_as_each_operation_opens_them()
    {
        var dir = Prepare();
        // followed for a read, and for a file that does not exist yet (written through the linked directory)
        var read = await Resolve("filesystem.read", new() { ["path"] = dir + "/link/s.txt" });
        Assert.Equal(dir + "/secret/s.txt", read.Data!.Value.GetProperty("paths").GetProperty("path").GetString());
        var write = await Resolve("filesystem.write", new() { ["path"] = dir + "/link/new/deeper.txt" });
        Assert.Equal(dir + "/secret/new/deeper.txt", write.Data!.Value.GetProperty("paths").GetProperty("path").GetString());
        // not followed where the operation acts on the link itself
        var delete = await Resolve("filesystem.delete", new() { ["path"] = dir + "/link" });
        Assert.Equal(dir + "/link", delete.Data!.Value.GetProperty("paths").GetProperty("path").GetString());
        // a path that leaves the sandbox is refused as it would be by the operation
        File.CreateSymbolicLink(Path.Combine(f.Workspace(A), dir["/workspace/".Length..], "out"), "/etc");
        var escape = await Resolve("filesystem.read", new() { ["path"] = dir + "/out/passwd" });
        Assert.Equal("PathOutOfScope", escape.Error!.ErrorType);
    }

    [Fact]
    public async Task Should_refuse_every_operation_on_a_decided_path_that_now_leads_elsewhere()
    {
        // arrange: "link" was a directory when the call was decided; it is a link to "secret" now
        var dir = Prepare();
        // act + assert: read, write, append, list, stat, move, delete and copy all refuse instead of following it
        foreach (var (capability, args) in new (string, object)[]
                 {
                     ("filesystem.read", new { path = dir + "/link/s.txt" }),
                     ("filesystem.write", new { path = dir + "/link/new.txt", content = "x" }),
                     ("filesystem.append", new { path = dir + "/link/s.txt", content = "x" }),
                     ("filesystem.list", new { path = dir + "/link" }),
                     ("filesystem.stat", new { path = dir + "/link/s.txt" }),
                     ("filesystem.move", new { source = dir + "/link/s.txt", destination = dir + "/moved.txt" }),
                     ("filesystem.copy", new { source = dir + "/link/s.txt", destination = dir + "/copied.txt" }),
                     ("filesystem.search_content", new { path = dir + "/link", pattern = "hidden" }),
                 })
        {
            var r = await Decided(capability, args);
            Assert.False(r.IsSuccess, $"{capability} followed the link: {r.Data}");
            Assert.Equal("PathOutOfScope", r.Error!.ErrorType);
            Assert.DoesNotContain("hidden", r.Error.Message);
        }
        Assert.Equal("hidden", File.ReadAllText(Path.Combine(f.Workspace(A), dir["/workspace/".Length..], "secret", "s.txt")));
        Assert.False(File.Exists(Path.Combine(f.Workspace(A), dir["/workspace/".Length..], "secret", "new.txt")));
        // the paths as they really are still work
        Assert.True((await Decided("filesystem.read", new { path = dir + "/secret/s.txt" })).IsSuccess);
        Assert.True((await Decided("filesystem.list", new { path = dir + "/secret" })).IsSuccess);
    }
}
