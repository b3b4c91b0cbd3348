using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Policy;

namespace KruxOS.Sandbox.Worker;

/// <summary>
/// Decides a tree walk entry by entry before it runs (ADR 0028). The agent's worker lists every entry the walk would
/// reach (<c>paths.walk</c>, canonical agent paths, in the sandbox), the guard decides each with the policy's pure
/// decision, and the walk then runs restricted to the entries let through (<c>ctx.walk_allowed</c>): an entry held
/// back, or one that appeared after the listing, is never opened. A read-only walk leaves held-back entries out; a walk
/// that writes is refused, naming the first such entry, before anything is written (a held-back directory it would
/// only pass through is skipped instead).
/// </summary>
internal static class WalkGate
{
    public static async Task<(JsonArray? Allowed, SandboxResult? Refusal)> DecideAsync(AgentSandbox agent, string capability, JsonElement arguments,
        WalkShape shape, WalkGuard guard, bool pathsDecided, CancellationToken ct)
    {
        var query = JsonSerializer.SerializeToElement(new JsonObject { ["capability"] = capability, ["arguments"] = JsonNode.Parse(arguments.GetRawText()) });
        var listing = await agent.CallWorkerAsync("paths.walk", query, new JsonObject { ["agent"] = agent.Agent, ["paths_decided"] = pathsDecided }, ct).ConfigureAwait(false);
        if (!listing.IsSuccess) return (null, listing);
        var allowed = new JsonArray();
        if (listing.Data is not { } data || !data.TryGetProperty("entries", out var entries) || entries.ValueKind != JsonValueKind.Array)
            return (null, SandboxResult.Fail(Core.Errors.Errors.Internal("the sandbox did not list the walk's entries"), listing.Usage));
        foreach (var entry in entries.EnumerateArray())
        {
            var argument = entry.TryGetProperty("argument", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString()! : string.Empty;
            var path = entry.TryGetProperty("path", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString()! : string.Empty;
            if (argument.Length == 0 || path.Length == 0)
                return (null, SandboxResult.Fail(Core.Errors.Errors.Internal("the sandbox listed a malformed walk entry"), listing.Usage));
            var passedThrough = entry.TryGetProperty("passed_through", out var t) && t.ValueKind == JsonValueKind.True;
            if (guard(argument, path) is { } refusal)
            {
                // A directory a write only passes through is not descended into; anything the write would open refuses it.
                if (shape.Written is not null && !passedThrough) return (null, SandboxResult.Fail(refusal, listing.Usage));
                continue;
            }
            if (argument == shape.Argument) allowed.Add(path);
        }
        return (allowed, null);
    }
}
