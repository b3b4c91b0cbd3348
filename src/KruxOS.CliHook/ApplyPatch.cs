namespace KruxOS.CliHook;

/// <summary>
/// Maps a Codex <c>apply_patch</c> body (<c>*** Begin Patch</c> … <c>*** End Patch</c>) to the file
/// capabilities it amounts to: an added file is <c>filesystem.write</c>, a deleted file
/// <c>filesystem.delete</c>, each hunk of an updated file one <c>filesystem.edit</c> (its old lines →
/// its new lines, exactly once), and a rename <c>filesystem.move</c>. Every call must be allowed.
/// </summary>
public static class ApplyPatch
{
    public static ToolMapping Map(string patch, string cwd)
    {
        var lines = patch.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var i = 0;
        while (i < lines.Length && lines[i].Trim().Length == 0) i++;
        if (i >= lines.Length || lines[i].Trim() != "*** Begin Patch") throw new InvalidToolInput("the patch does not start with '*** Begin Patch'");
        i++;
        var calls = new List<CapabilityCall>();
        var ended = false;
        while (i < lines.Length)
        {
            var line = lines[i];
            if (line.Trim() == "*** End Patch") { ended = true; break; }
            if (line.StartsWith("*** Add File: ", StringComparison.Ordinal))
            {
                var path = Path(line["*** Add File: ".Length..], cwd);
                var content = new List<string>();
                for (i++; i < lines.Length && !lines[i].StartsWith("***", StringComparison.Ordinal); i++)
                {
                    if (!lines[i].StartsWith('+')) throw new InvalidToolInput($"a line of the added file '{path}' does not start with '+'");
                    content.Add(lines[i][1..]);
                }
                var call = ShellCommand.Call("filesystem.write", ("path", path), ("content", content.Count == 0 ? "" : string.Join('\n', content) + "\n"));
                call.Arguments["create_parents"] = true;
                calls.Add(call);
                continue;
            }
            if (line.StartsWith("*** Delete File: ", StringComparison.Ordinal))
            {
                calls.Add(ShellCommand.Call("filesystem.delete", ("path", Path(line["*** Delete File: ".Length..], cwd))));
                i++;
                continue;
            }
            if (line.StartsWith("*** Update File: ", StringComparison.Ordinal))
            {
                var path = Path(line["*** Update File: ".Length..], cwd);
                i++;
                string? moveTo = null;
                if (i < lines.Length && lines[i].StartsWith("*** Move to: ", StringComparison.Ordinal))
                {
                    moveTo = Path(lines[i]["*** Move to: ".Length..], cwd);
                    i++;
                }
                List<string>? oldLines = null, newLines = null;
                void Flush()
                {
                    if (oldLines is null || newLines is null) return;
                    if (oldLines.Count > 0 || newLines.Count > 0)
                    {
                        var edit = ShellCommand.Call("filesystem.edit", ("path", path), ("pattern", string.Join('\n', oldLines)), ("replace", string.Join('\n', newLines)));
                        edit.Arguments["expected_replacements"] = 1;
                        calls.Add(edit);
                    }
                    oldLines = newLines = null;
                }
                for (; i < lines.Length; i++)
                {
                    var l = lines[i];
                    if (l == "*** End of File") continue;
                    if (l.StartsWith("*** ", StringComparison.Ordinal)) break;
                    if (l.StartsWith("@@", StringComparison.Ordinal)) { Flush(); oldLines = []; newLines = []; continue; }
                    oldLines ??= [];
                    newLines ??= [];
                    if (l.Length == 0) { oldLines.Add(""); newLines.Add(""); continue; }
                    switch (l[0])
                    {
                        case ' ': oldLines.Add(l[1..]); newLines.Add(l[1..]); break;
                        case '-': oldLines.Add(l[1..]); break;
                        case '+': newLines.Add(l[1..]); break;
                        default: throw new InvalidToolInput($"a line of the update to '{path}' does not start with ' ', '-' or '+'");
                    }
                }
                Flush();
                if (moveTo is not null) calls.Add(ShellCommand.Call("filesystem.move", ("source", path), ("destination", moveTo)));
                continue;
            }
            if (line.Trim().Length == 0) { i++; continue; }
            throw new InvalidToolInput($"unexpected patch line '{HookEventParser.Clip(line)}'");
        }
        if (!ended) throw new InvalidToolInput("the patch does not end with '*** End Patch'");
        if (calls.Count == 0) throw new InvalidToolInput("the patch changes no file");
        return new ToolMapping(calls, null);
    }

    private static string Path(string p, string cwd)
    {
        var trimmed = p.Trim();
        if (trimmed.Length == 0) throw new InvalidToolInput("a patch names an empty path");
        return WorkspacePaths.ToWorkspace(trimmed, cwd);
    }
}
