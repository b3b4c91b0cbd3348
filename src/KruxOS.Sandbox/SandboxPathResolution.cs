using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Sandbox;

/// <summary>
/// The one way a handler whose capability opens files in the agent's sandbox answers
/// <see cref="IPathResolvingHandler.ResolvePathsAsync"/>: the named string arguments are resolved inside the sandbox
/// (symbolic links followed there, as the agent's uid) and put back in place, everything else unchanged.
/// </summary>
public static class SandboxPathResolution
{
    /// <summary>Resolves <paramref name="names"/> of <paramref name="arguments"/> for <paramref name="capability"/>.</summary>
    public static async Task<PathResolution> ResolveArgumentPathsAsync(this ISandbox sandbox, AgentName agent, CapabilityName capability,
        JsonElement arguments, IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(sandbox);
        ArgumentNullException.ThrowIfNull(names);
        var given = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var n in names)
            if (arguments.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.String) given[n] = v.GetString()!;
        if (given.Count == 0) return new PathResolution(arguments, null);
        var result = await sandbox.ResolvePathsAsync(agent, capability, given, cancellationToken).ConfigureAwait(false);
        if (!result.IsSuccess) return new PathResolution(null, result.Error, result.PathEscape);
        if (result.Data is not { } data || !data.TryGetProperty("paths", out var paths) || paths.ValueKind != JsonValueKind.Object)
            return new PathResolution(null, KruxOS.Core.Errors.Errors.Internal("the sandbox did not resolve the call's paths"));
        foreach (var n in given.Keys)
            if (!paths.TryGetProperty(n, out var r) || r.ValueKind != JsonValueKind.String)
                return new PathResolution(null, KruxOS.Core.Errors.Errors.Internal($"the sandbox did not resolve '{n}'"));
        // The arguments as validated, each resolved path in place of the one given (same order, nothing else changed).
        var resolved = new JsonObject();
        foreach (var p in arguments.EnumerateObject())
            resolved[p.Name] = given.ContainsKey(p.Name)
                ? JsonValue.Create(paths.GetProperty(p.Name).GetString())
                : JsonNode.Parse(p.Value.GetRawText());
        return new PathResolution(JsonSerializer.SerializeToElement(resolved), null);
    }
}
