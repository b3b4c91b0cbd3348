using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.CliHook;

/// <summary>One capability call a native tool call stands for.</summary>
/// <param name="Capability">Dotted capability name.</param>
/// <param name="Arguments">Arguments in the capability's input schema (paths workspace-relative).</param>
public sealed record CapabilityCall(string Capability, JsonObject Arguments);

/// <summary>The capability calls of a native tool call (all must be allowed), or why it cannot be mapped.</summary>
public sealed record ToolMapping(IReadOnlyList<CapabilityCall> Calls, HookDenial? Denial)
{
    public static ToolMapping Of(params CapabilityCall[] calls) => new(calls, null);

    public static ToolMapping Deny(string code, string reason) => new([], new HookDenial(code, reason));
}

/// <summary>
/// Pure mapping of a client's native tool call to KruxOS capability calls (docs/cli-hook.md has the table).
/// A tool with no mapping is denied (<c>unmapped_tool</c>); an input the mapping cannot read is denied
/// (<c>invalid_tool_input</c>). Nothing here touches the disk or the network.
/// </summary>
public static class ToolMapper
{
    /// <summary>Tool names of Codex's shell tools (all carry <c>command</c>, a string or an argv array).</summary>
    public static readonly string[] ShellTools = ["Bash", "shell", "local_shell", "exec_command", "container.exec", "unified_exec"];

    /// <summary>Maps one event.</summary>
    public static ToolMapping Map(HookEvent e)
    {
        var input = e.ToolInput;
        try
        {
            return e.ToolName switch
            {
                "Read" => ToolMapping.Of(ShellCommand.Call("filesystem.read", ("path", FilePath(input, e.Cwd)))),
                "Write" => ToolMapping.Of(ShellCommand.Call("filesystem.write", ("path", FilePath(input, e.Cwd)), ("content", Required(input, "content")))),
                "Edit" => ToolMapping.Of(Edit(FilePath(input, e.Cwd), input)),
                "MultiEdit" => MultiEdit(input, e.Cwd),
                "Glob" => ToolMapping.Of(ShellCommand.Call("filesystem.search", ("path", OptionalPath(input, e.Cwd)), ("pattern", Required(input, "pattern")))),
                "Grep" => ToolMapping.Of(Grep(input, e.Cwd)),
                "WebFetch" => ToolMapping.Of(ShellCommand.Call("network.http_request", ("url", Required(input, "url")), ("method", "GET"))),
                "apply_patch" => ApplyPatch.Map(Required(input, "command"), e.Cwd),
                _ when ShellTools.Contains(e.ToolName) => ToolMapping.Of(Shell(input, e.Cwd)),
                _ => ToolMapping.Deny("unmapped_tool",
                    $"KruxOS has no capability mapping for the tool '{HookEventParser.Clip(e.ToolName)}', so it is denied. Use the KruxOS MCP tools instead."),
            };
        }
        catch (InvalidToolInput bad)
        {
            return ToolMapping.Deny("invalid_tool_input", $"The {HookEventParser.Clip(e.ToolName)} call cannot be checked: {bad.Message}");
        }
    }

    private static CapabilityCall Edit(string path, JsonElement edit)
    {
        var call = ShellCommand.Call("filesystem.edit", ("path", path), ("pattern", Required(edit, "old_string")), ("replace", RequiredAllowEmpty(edit, "new_string")));
        // Claude's Edit replaces exactly one occurrence unless replace_all is set; the capability says the same.
        if (edit.TryGetProperty("replace_all", out var all) && all.ValueKind == JsonValueKind.True) call.Arguments["replace_all"] = true;
        else call.Arguments["expected_replacements"] = 1;
        return call;
    }

    private static ToolMapping MultiEdit(JsonElement input, string cwd)
    {
        var path = FilePath(input, cwd);
        if (!input.TryGetProperty("edits", out var edits) || edits.ValueKind != JsonValueKind.Array || edits.GetArrayLength() == 0)
            throw new InvalidToolInput("'edits' must be a non-empty array");
        var calls = new List<CapabilityCall>();
        foreach (var edit in edits.EnumerateArray())
        {
            if (edit.ValueKind != JsonValueKind.Object) throw new InvalidToolInput("every edit must be an object");
            calls.Add(Edit(path, edit));
        }
        return new ToolMapping(calls, null);
    }

    private static CapabilityCall Grep(JsonElement input, string cwd)
    {
        var call = ShellCommand.Call("filesystem.search_content", ("path", OptionalPath(input, cwd)), ("pattern", Required(input, "pattern")));
        call.Arguments["regex"] = true;
        if (input.TryGetProperty("-i", out var i) && i.ValueKind == JsonValueKind.True) call.Arguments["case_sensitive"] = false;
        if (Optional(input, "glob") is { Length: > 0 } glob) call.Arguments["include_glob"] = glob;
        switch (Optional(input, "output_mode"))
        {
            case "files_with_matches": call.Arguments["files_only"] = true; break;
            case "count": call.Arguments["total_only"] = true; break;
        }
        return call;
    }

    private static CapabilityCall Shell(JsonElement input, string cwd)
    {
        int? timeout = input.TryGetProperty("timeout", out var t) && t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out var ms) ? ms : null;
        var background = input.TryGetProperty("run_in_background", out var bg) && bg.ValueKind == JsonValueKind.True;
        var command = input.TryGetProperty("command", out var c) ? c : input.TryGetProperty("cmd", out var cmd) ? cmd : default;
        switch (command.ValueKind)
        {
            case JsonValueKind.String:
                var line = command.GetString()!;
                if (line.Trim().Length == 0) throw new InvalidToolInput("'command' is empty");
                return ShellCommand.Map(line, cwd, timeout, background);
            case JsonValueKind.Array:
                var argv = command.EnumerateArray().Select(a => a.ValueKind == JsonValueKind.String ? a.GetString()! : throw new InvalidToolInput("'command' must be an array of strings")).ToList();
                if (argv.Count == 0) throw new InvalidToolInput("'command' is empty");
                // ["bash", "-lc", "<script>"] is how Codex runs a shell line: decide the line itself.
                if (argv is [var sh, "-c" or "-lc", var script] && System.IO.Path.GetFileName(sh) is "sh" or "bash" or "zsh" or "dash")
                    return ShellCommand.Map(script, cwd, timeout, background);
                return ShellCommand.MapWords(argv, cwd, timeout, background);
            default:
                throw new InvalidToolInput("'command' is missing");
        }
    }

    private static string FilePath(JsonElement input, string cwd) => WorkspacePaths.ToWorkspace(Required(input, "file_path"), cwd);

    private static string OptionalPath(JsonElement input, string cwd) =>
        Optional(input, "path") is { Length: > 0 } p ? WorkspacePaths.ToWorkspace(p, cwd) : ".";

    internal static string Required(JsonElement input, string name)
    {
        var s = Optional(input, name);
        if (string.IsNullOrEmpty(s)) throw new InvalidToolInput($"'{name}' is missing or not a non-empty string");
        return s;
    }

    private static string RequiredAllowEmpty(JsonElement input, string name) =>
        Optional(input, name) ?? throw new InvalidToolInput($"'{name}' is missing or not a string");

    private static string? Optional(JsonElement input, string name) =>
        input.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary>A tool input the mapping cannot read.</summary>
public sealed class InvalidToolInput(string message) : Exception(message);
