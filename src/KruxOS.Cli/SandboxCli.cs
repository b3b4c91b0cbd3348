using System.CommandLine;
using System.Text.Json.Nodes;
using KruxOS.Sandbox;
using KruxOS.Sandbox.Health;
using static KruxOS.Cli.Output;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary><c>kruxos sandbox diagnose</c> (runs locally, no gateway needed) and <c>kruxos mount add|list|remove</c>.</summary>
public static class SandboxCli
{
    /// <summary>The <c>sandbox</c> and <c>mount</c> commands.</summary>
    public static IEnumerable<Command> Build(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var sandbox = new Command("sandbox", "Inspect the kernel sandbox");
        var diagnose = new Command("diagnose", "Check every isolation mechanism on this host (exit 0 only when all are active)") { json };
        diagnose.SetAction(async (p, ct) =>
        {
            var options = new SandboxOptions { DataDirectory = DataDir() };
            var report = await Task.Run(() => SandboxDiagnostics.Run(options), ct).ConfigureAwait(false);
            await stdout.WriteAsync(p.GetValue(json) ? report.ToJson() + "\n" : report.ToText()).ConfigureAwait(false);
            return report.ExitCode;
        });
        sandbox.Subcommands.Add(diagnose);
        yield return sandbox;

        var mount = new Command("mount", "Operator host mounts visible to one agent at /mnt/<label>");
        var agentArg = new Argument<string>("agent") { Description = "Agent name" };
        var source = new Option<string>("--source") { Description = "Host directory to mount", Required = true };
        var target = new Option<string?>("--target") { Description = "Mount point; must be /mnt/<label>" };
        var label = new Option<string>("--label") { Description = "Mount label (names /mnt/<label>)", Required = true };
        var readOnly = new Option<bool>("--read-only") { Description = "Mount read-only" };
        var add = new Command("add", "Add a host mount for an agent") { agentArg, source, target, label, readOnly, json };
        add.SetAction((p, ct) => Call(client, stdout, stderr, M.MountAdd, new JsonObject
        {
            ["agent"] = p.GetValue(agentArg), ["source"] = p.GetValue(source), ["target"] = p.GetValue(target),
            ["label"] = p.GetValue(label), ["read_only"] = p.GetValue(readOnly),
        }, p.GetValue(json), r => $"Mounted {Str(r, "source")} at {Str(r, "target")} for agent '{Str(r, "agent")}'{(r!["read_only"]!.GetValue<bool>() ? " (read-only)" : "")}.\nThe agent's sandbox restarts on its next call to pick it up.\n", ct));
        mount.Subcommands.Add(add);

        var listAgent = new Argument<string>("agent") { Description = "Agent name" };
        var list = new Command("list", "List an agent's host mounts") { listAgent, json };
        list.SetAction((p, ct) => Call(client, stdout, stderr, M.MountList, new JsonObject { ["agent"] = p.GetValue(listAgent) }, p.GetValue(json),
            r => Table(["LABEL", "TARGET", "SOURCE", "MODE"], r!["mounts"]!.AsArray().Select(m =>
                (IReadOnlyList<string>)[Str(m, "label"), Str(m, "target"), Str(m, "source"), m!["read_only"]!.GetValue<bool>() ? "ro" : "rw"])), ct));
        mount.Subcommands.Add(list);

        var removeAgent = new Argument<string>("agent") { Description = "Agent name" };
        var removeLabel = new Argument<string>("label") { Description = "Mount label" };
        var remove = new Command("remove", "Remove an agent's host mount") { removeAgent, removeLabel, json };
        remove.SetAction((p, ct) => Call(client, stdout, stderr, M.MountRemove,
            new JsonObject { ["agent"] = p.GetValue(removeAgent), ["label"] = p.GetValue(removeLabel) }, p.GetValue(json),
            r => $"Removed mount '{Str(r, "label")}' of agent '{Str(r, "agent")}'.\n", ct));
        mount.Subcommands.Add(remove);
        yield return mount;
    }

    private static string DataDir() =>
        Environment.GetEnvironmentVariable("KRUXOS_DATA_DIR") is { Length: > 0 } d
            ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kruxos");

    private static Task<int> Call(ControlClient client, TextWriter stdout, TextWriter stderr, string method, JsonObject parameters, bool asJson,
        Func<JsonNode?, string> render, CancellationToken ct) =>
        CliCalls.CallAsync(client, stdout, stderr, method, parameters, asJson, render, indented: true, ct);
}
