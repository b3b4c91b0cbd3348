using System.Reflection;

namespace KruxOS.LoadTest.Targets;

/// <summary>Finds the servers' DLLs in this repository's build output (same configuration as the driver).</summary>
public static class BuildOutput
{
    /// <summary>The driver's build configuration (Debug or Release).</summary>
    public static string Configuration =>
        typeof(BuildOutput).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";

    /// <summary>The folder holding KruxOS.sln above <paramref name="start"/>, or null.</summary>
    public static string? RepositoryRoot(string? start = null)
    {
        for (var dir = new DirectoryInfo(start ?? AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "KruxOS.sln"))) return dir.FullName;
        return null;
    }

    /// <summary>The gateway DLL: <paramref name="explicitPath"/> if given, else the build output.</summary>
    public static string GatewayDll(string? explicitPath) =>
        Resolve(explicitPath, Path.Combine("src", "KruxOS.Gateway", "bin", Configuration, "net10.0", "kruxos-gateway.dll"));

    /// <summary>The raw floor DLL: <paramref name="explicitPath"/> if given, else the build output.</summary>
    public static string FloorDll(string? explicitPath) =>
        Resolve(explicitPath, Path.Combine("benchmarks", "KruxOS.RawFloor", "bin", Configuration, "net10.0", "KruxOS.RawFloor.dll"));

    private static string Resolve(string? explicitPath, string relative)
    {
        var path = explicitPath ?? (RepositoryRoot() is { } root ? Path.Combine(root, relative) : relative);
        return File.Exists(path)
            ? Path.GetFullPath(path)
            : throw new FileNotFoundException(
                $"{path} not found; build first: dotnet build benchmarks/KruxOS.LoadTest -c {Configuration} (it builds the gateway and the floor too)", path);
    }
}
