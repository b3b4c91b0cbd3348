using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// <c>process.run</c> finds its working directory and command in the sandbox's own view with the agent's own rights,
/// never by root on the host: an agent that plants symbolic links (or writes relative and dotted commands) pointing
/// through host directories it cannot see learns nothing about whether those exist.
/// <para>SAFETY: every probed host path is below a root-only (0700) temporary directory this spec creates and removes;
/// nothing else on the host is named.</para>
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class ProcessPathProbeTests(SandboxFixture f)
{
    private const string A = "probe-agent";

    [Fact]
    public async Task An_agent_cannot_tell_whether_a_hidden_host_path_exists_through_process_run()
    {
        await f.Ok(A, "process.run", new { command = "mkdir", args = new[] { "-p", "d" } });
        var workspace = f.Workspace(A);
        // The hidden tree: root-only, as /root is; "x/tool" exists in the first round and not in the second.
        var hidden = Path.Combine(Path.GetTempPath(), "kruxos-hidden-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(hidden, (UnixFileMode)0x1C0);
        File.SetUnixFileMode(hidden, (UnixFileMode)0x1C0);
        try
        {
            var depth = hidden.Split('/', StringSplitOptions.RemoveEmptyEntries).Length;
            var up = string.Concat(Enumerable.Repeat("/..", depth));
            // Links the agent plants itself, with its own tools.
            await Plant(hidden + "/x/.." + up + workspace + "/d", "wd-through"); // resolves back into the workspace only if x exists
            await Plant(hidden + "/x", "wd-direct");
            await Plant(hidden + "/x/tool", "cmd-link");
            var probes = new (string Name, object Args)[]
            {
                ("working directory through a hidden directory", new { command = "true", working_directory = "wd-through" }),
                ("working directory linked to a hidden directory", new { command = "true", working_directory = "/workspace/wd-direct" }),
                ("command linked to a hidden file", new { command = "/workspace/cmd-link" }),
                ("relative command climbing out of the workspace", new { command = string.Concat(Enumerable.Repeat("../", 40)) + hidden.TrimStart('/') + "/x/tool" }),
                ("dotted system command", new { command = "/usr/.." + hidden + "/x/tool" }),
                ("relative command through a linked working directory", new { command = "../x/tool", working_directory = "/workspace/wd-direct" }),
            };

            Directory.CreateDirectory(Path.Combine(hidden, "x"));
            await File.WriteAllTextAsync(Path.Combine(hidden, "x", "tool"), "#!/bin/sh\nexit 0\n", TestContext.Current.CancellationToken);
            File.SetUnixFileMode(Path.Combine(hidden, "x", "tool"), (UnixFileMode)0x1ED);
            var whenPresent = new List<string>();
            foreach (var (_, args) in probes) whenPresent.Add(Outcome(await f.Call(A, "process.run", args)));

            Directory.Delete(Path.Combine(hidden, "x"), recursive: true);
            var whenAbsent = new List<string>();
            foreach (var (_, args) in probes) whenAbsent.Add(Outcome(await f.Call(A, "process.run", args)));

            var leaks = Enumerable.Range(0, probes.Length)
                .Where(i => whenPresent[i] != whenAbsent[i] || whenPresent[i].StartsWith("ok", StringComparison.Ordinal))
                .Select(i => $"{probes[i].Name}:\n  present: {whenPresent[i]}\n  absent:  {whenAbsent[i]}").ToList();
            Assert.True(leaks.Count == 0, "the answers depend on a hidden host path:\n" + string.Join('\n', leaks));
        }
        finally
        {
            Directory.Delete(hidden, recursive: true);
        }
    }

    [Fact]
    public async Task Working_directories_and_commands_the_agent_really_reaches_still_run()
    {
        await f.Ok(A, "process.run", new
        {
            command = "sh",
            args = new[] { "-c", "mkdir -p real/bin locked && printf '#!/bin/sh\\npwd\\n' > real/bin/where && chmod 755 real/bin/where && ln -sfn real inner && ln -sfn /workspace/real/bin/where abs-link && chmod 000 locked" },
        });
        // A link inside the workspace is followed, and the process starts in the canonical directory.
        var r = await f.Ok(A, "process.run", new { command = "pwd", working_directory = "inner" });
        Assert.Equal("/workspace/real", r.GetProperty("stdout_summary").GetString());
        // Relative and absolute commands, through links that stay in the workspace.
        r = await f.Ok(A, "process.run", new { command = "bin/where", working_directory = "/workspace/inner" });
        Assert.Equal("/workspace/real", r.GetProperty("stdout_summary").GetString());
        r = await f.Ok(A, "process.run", new { command = "/workspace/abs-link" });
        Assert.Equal("/workspace", r.GetProperty("stdout_summary").GetString());
        r = await f.Ok(A, "process.run", new { command = "./inner/bin/where" });
        Assert.Equal("/workspace", r.GetProperty("stdout_summary").GetString());
        // A program found on the sandbox's PATH, and one named by its system path.
        Assert.Equal(0, (await f.Ok(A, "process.run", new { command = "true" })).GetProperty("exit_code").GetInt32());
        Assert.Equal(0, (await f.Ok(A, "process.run", new { command = "/bin/true" })).GetProperty("exit_code").GetInt32());
        // A directory the agent cannot enter is refused as the agent, not let through because root could.
        var locked = await f.Fails(A, "process.run", new { command = "true", working_directory = "locked" }, "InvalidInput");
        Assert.Contains("working_directory", locked.Error!.Message, StringComparison.Ordinal);
        await f.Ok(A, "process.run", new { command = "chmod", args = new[] { "700", "locked" } });
        // Only what the process sandbox shows counts: the worker's own files are not commands.
        await f.Fails(A, "process.run", new { command = "/opt/kruxos/dotnet/dotnet" }, "CommandNotFound");
        await f.Fails(A, "process.run", new { command = "/trash" }, "CommandNotFound");
    }

    private async Task Plant(string target, string name) =>
        await f.Ok(A, "process.run", new { command = "ln", args = new[] { "-sfn", target, name } });

    private static string Outcome(SandboxResult r) =>
        r.IsSuccess ? "ok " + r.Data : $"{r.Error!.ErrorType}: {r.Error.Message} (escape: {r.PathEscape})";
}
