using System.Net;
using System.Text.Json.Nodes;
using KruxOS.Dashboard.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Dashboard.Tests;

/// <summary>A gateway whose agent's appends and commands are held for approval (the sandbox runs the rest).</summary>
public sealed class PreviewGateway : DashboardGateway
{
    protected override string Policy =>
        "rules:\n  - capability: filesystem.append\n    tier: approval_required\n    reason: appends are reviewed\n"
        + "  - capability: filesystem.write\n    tier: autonomous\n"
        + "  - capability: process.run\n    tier: approval_required\n    reason: commands are reviewed\n";
}

/// <summary>
/// What approving will do, on held calls of a real sandboxed agent: the diff against the file as the agent's own sandbox
/// reads it, and the exact command line.
/// </summary>
[RequiresSystemPackages("bwrap:bubblewrap", "setpriv:util-linux", Root = true)]
public sealed class ApprovalPreviewSpecs(PreviewGateway fixture) : IClassFixture<PreviewGateway>
{
    private async Task<JsonNode> PreviewAsync(string id)
    {
        using var client = await fixture.SignedInAsync();
        var (status, body) = await client.ApiAsync(HttpMethod.Get, $"/api/approvals/{id}/preview");
        Assert.Equal(HttpStatusCode.OK, status);
        return body!;
    }

    [Fact]
    public async Task Should_show_an_append_as_a_diff_against_the_current_file()
    {
        // arrange: the agent writes a file (autonomous), then asks to append to it (held)
        var write = await HeldCalls.InvokeAsync(fixture.Gateway, fixture.AgentToken, "filesystem.write", new JsonObject { ["path"] = "notes.txt", ["content"] = "one\ntwo\n" });
        Assert.Null(write["error"]);
        var id = await HeldCalls.RpcAsync(fixture.Gateway, fixture.AgentToken, "filesystem.append", new JsonObject { ["path"] = "notes.txt", ["content"] = "three\n" });
        // act
        var preview = await PreviewAsync(id);
        // assert
        Assert.Equal("file_change", preview["kind"]!.GetValue<string>());
        var diff = preview["diff"]!;
        Assert.True(diff["available"]!.GetValue<bool>(), diff.ToJsonString());
        Assert.Equal(1, diff["added"]!.GetValue<int>());
        Assert.Equal(0, diff["removed"]!.GetValue<int>());
        Assert.Contains(diff["lines"]!.AsArray(), l => l![0]!.GetValue<string>() == "+" && l[1]!.GetValue<string>() == "three");
        Assert.Contains(diff["lines"]!.AsArray(), l => l![0]!.GetValue<string>() == " " && l[1]!.GetValue<string>() == "two");
    }

    [Fact]
    public async Task Should_show_the_exact_command_line_of_a_held_process_run()
    {
        var id = await HeldCalls.RpcAsync(fixture.Gateway, fixture.AgentToken, "process.run",
            new JsonObject { ["command"] = "rm", ["args"] = new JsonArray("-rf", "my dir", "$(id)") });
        var preview = await PreviewAsync(id);
        Assert.Equal("command", preview["kind"]!.GetValue<string>());
        Assert.Equal("rm -rf 'my dir' '$(id)'", preview["command_line"]!.GetValue<string>());
    }

    /// <summary>
    /// The agent links a name in its workspace to a file only root can read (a marker this spec made, outside the
    /// workspace) and asks to append to that name. The preview must not show the file: it is read by the agent's sandbox,
    /// which cannot reach it, never by the gateway as root.
    /// </summary>
    [Fact]
    public async Task Should_never_show_a_file_outside_the_agents_reach_through_a_symlink_in_its_workspace()
    {
        // arrange: a marker of our own (never a host path), and the workspace made by a first call
        var markerDir = Directory.CreateTempSubdirectory("kruxos-dash-marker-").FullName;
        try
        {
            var marker = Path.Combine(markerDir, "secret.txt");
            await File.WriteAllTextAsync(marker, "TOP-SECRET-MARKER-7f3a\n");
            File.SetUnixFileMode(marker, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            var write = await HeldCalls.InvokeAsync(fixture.Gateway, fixture.AgentToken, "filesystem.write", new JsonObject { ["path"] = "seed.txt", ["content"] = "x" });
            Assert.Null(write["error"]);
            var workspace = Path.Combine(fixture.Gateway.DataDir, "workspace", DashboardGateway.Agent);
            Assert.True(Directory.Exists(workspace), workspace);
            File.CreateSymbolicLink(Path.Combine(workspace, "leak.txt"), marker);
            var id = await HeldCalls.RpcAsync(fixture.Gateway, fixture.AgentToken, "filesystem.append", new JsonObject { ["path"] = "leak.txt", ["content"] = "y\n" });
            // act
            var preview = await PreviewAsync(id);
            // assert
            Assert.DoesNotContain("TOP-SECRET-MARKER", preview.ToJsonString());
        }
        finally
        {
            Directory.Delete(markerDir, recursive: true);
        }
    }
}
