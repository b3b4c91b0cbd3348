using System.Text.Json;

namespace KruxOS.Sandbox.Worker;

/// <summary>
/// The files the worker's sandbox gets at <c>/opt/kruxos/worker</c>: the worker, the assemblies its
/// <c>deps.json</c> names, its runtime configuration and its git configuration — not the rest of the
/// directory it was installed in (the gateway's, with the gateway's own configuration files), which no
/// <c>process.run</c> sandbox sees either.
/// </summary>
internal static class WorkerFiles
{
    public const string InsideDirectory = "/opt/kruxos/worker";

    /// <summary>(host file, path inside) pairs for read-only binds; only files that exist.</summary>
    public static IReadOnlyList<(string Source, string Target)> Binds(string workerDirectory)
    {
        var names = new SortedSet<string>(StringComparer.Ordinal)
        {
            "KruxOS.SandboxWorker.dll", "KruxOS.SandboxWorker.deps.json", "KruxOS.SandboxWorker.runtimeconfig.json", "kruxos-git.config",
        };
        foreach (var assembly in Assemblies(Path.Combine(workerDirectory, "KruxOS.SandboxWorker.deps.json"))) names.Add(assembly);
        return [.. names.Select(n => (Path.Combine(workerDirectory, n), InsideDirectory + "/" + n)).Where(b => File.Exists(b.Item1))];
    }

    // targets.<framework>.<library>.runtime has the assembly paths ("lib/net10.0/YamlDotNet.dll"); the
    // application directory holds them by file name.
    private static IEnumerable<string> Assemblies(string depsJson)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(depsJson)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException) { yield break; }
        using (doc)
        {
            if (!doc.RootElement.TryGetProperty("targets", out var targets) || targets.ValueKind != JsonValueKind.Object) yield break;
            foreach (var framework in targets.EnumerateObject())
            {
                if (framework.Value.ValueKind != JsonValueKind.Object) continue;
                foreach (var library in framework.Value.EnumerateObject())
                {
                    if (library.Value.ValueKind != JsonValueKind.Object || !library.Value.TryGetProperty("runtime", out var runtime) || runtime.ValueKind != JsonValueKind.Object) continue;
                    foreach (var file in runtime.EnumerateObject())
                    {
                        var name = Path.GetFileName(file.Name);
                        if (name.EndsWith(".dll", StringComparison.Ordinal) && name.IndexOfAny(['/', '\0']) < 0) yield return name;
                    }
                }
            }
        }
    }
}
