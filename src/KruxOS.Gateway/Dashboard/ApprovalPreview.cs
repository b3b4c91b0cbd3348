using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Approvals;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Dashboard;
using KruxOS.Sandbox;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// What approving a held call will do (<c>GET /api/approvals/{id}/preview</c>): the exact command line of a
/// <c>process.run</c>, method and URL of a network call, and for <c>filesystem.write</c> / <c>append</c> / <c>edit</c> a diff
/// against the file's current content. The current content is read <b>by the agent's own sandbox worker</b> (its uid, its
/// namespaces and Landlock rules, its view of its workspace and mounts) — never by the gateway as root from a path the
/// agent chose — and an <c>edit</c> is previewed with the worker's own <c>dry_run</c>, which writes nothing.
/// </summary>
public sealed class ApprovalPreview(ISandbox sandbox)
{
    /// <summary>The most of the current file read for a diff.</summary>
    public const int MaxReadBytes = 256 * 1024;

    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The preview of <paramref name="view"/>'s call.</summary>
    public async Task<JsonObject> PreviewAsync(ApprovalView view, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(view);
        var r = view.State.Request!;
        var args = r.Arguments;
        var effect = ApprovalEffects.Of(r.Capability, args);
        var json = new JsonObject
        {
            ["kind"] = effect.Kind,
            ["summary"] = effect.Summary,
            ["path"] = effect.Path,
            ["command_line"] = effect.CommandLine,
            ["working_directory"] = effect.WorkingDirectory,
            ["method"] = effect.Method,
            ["url"] = effect.Url,
        };
        if (effect.Kind != "file_change") return json;
        try
        {
            json["diff"] = r.Capability == "filesystem.edit"
                ? await EditDiffAsync(r.Agent, args, ct).ConfigureAwait(false)
                : await WriteDiffAsync(r.Agent, r.Capability, args, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            json["diff"] = Unavailable("the agent's sandbox did not answer in time");
        }
        return json;
    }

    private async Task<JsonObject> WriteDiffAsync(AgentName agent, string capability, JsonElement args, CancellationToken ct)
    {
        var path = Text(args, "path") ?? "";
        if (Text(args, "encoding") == "binary") return Unavailable("binary content: no text diff");
        var content = Text(args, "content") ?? "";
        var readArgs = JsonSerializer.SerializeToElement(new { path, encoding = "utf-8", offset = 0, limit = MaxReadBytes });
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(ReadTimeout);
        var read = await sandbox.ExecuteAsync(new SandboxRequest(agent, CapabilityName.Parse("filesystem.read"), readArgs, ReadTimeout, CallerKind.User), deadline.Token)
            .ConfigureAwait(false);
        string before;
        bool exists;
        if (read.IsSuccess && read.Data is { } data)
        {
            if (data.TryGetProperty("truncated", out var t) && t.ValueKind == JsonValueKind.True)
                return Unavailable($"the current file is larger than {MaxReadBytes / 1024} KiB: no diff");
            before = data.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() ?? "" : "";
            exists = true;
        }
        else if (read.Error is { } e && e.ErrorType.Contains("NotFound", StringComparison.OrdinalIgnoreCase))
        {
            before = "";
            exists = false;
        }
        else
        {
            return Unavailable("the current content could not be read by the agent's sandbox: " + (read.Error?.Message ?? "no answer"));
        }
        var after = capability == "filesystem.append" ? before + content : content;
        var diff = TextDiff.Unified(before, after);
        var json = Diff(diff);
        json["file_exists"] = exists;
        return json;
    }

    private async Task<JsonObject> EditDiffAsync(AgentName agent, JsonElement args, CancellationToken ct)
    {
        var dry = JsonNode.Parse(args.GetRawText())!.AsObject();
        dry["dry_run"] = true;
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(ReadTimeout);
        var result = await sandbox.ExecuteAsync(new SandboxRequest(agent, CapabilityName.Parse("filesystem.edit"), JsonSerializer.SerializeToElement(dry), ReadTimeout,
            CallerKind.User), deadline.Token).ConfigureAwait(false);
        if (!result.IsSuccess || result.Data is not { } data)
            return Unavailable("the edit could not be previewed by the agent's sandbox: " + (result.Error?.Message ?? "no answer"));
        var text = data.TryGetProperty("diff", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() ?? "" : "";
        var lines = new JsonArray();
        int added = 0, removed = 0;
        foreach (var line in text.Split('\n').Take(2000))
        {
            if (line.Length == 0) continue;
            char kind;
            var body = line;
            if (line.StartsWith("@@", StringComparison.Ordinal)) kind = '@';
            else if (line.StartsWith("+++", StringComparison.Ordinal) || line.StartsWith("---", StringComparison.Ordinal)) kind = 'h';
            else if (line[0] is '+' or '-' or ' ')
            {
                kind = line[0];
                body = line[1..];
            }
            else kind = ' ';
            if (kind == '+') added++;
            if (kind == '-') removed++;
            lines.Add(new JsonArray(kind.ToString(), body));
        }
        return new JsonObject { ["available"] = true, ["lines"] = lines, ["added"] = added, ["removed"] = removed, ["truncated"] = false };
    }

    private static JsonObject Diff(TextDiffResult diff) => new()
    {
        ["available"] = true,
        ["lines"] = new JsonArray([.. diff.Lines.Select(l => (JsonNode)new JsonArray(l.Kind.ToString(), l.Text))]),
        ["added"] = diff.Added,
        ["removed"] = diff.Removed,
        ["truncated"] = diff.Truncated,
    };

    private static JsonObject Unavailable(string why) => new() { ["available"] = false, ["note"] = why };

    private static string? Text(JsonElement args, string name) =>
        args.ValueKind == JsonValueKind.Object && args.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}
