using System.Text;
using KruxOS.CliHook;

namespace KruxOS.CliHook.Tests.Support;

/// <summary>The recorded hook events under <c>Fixtures/&lt;client&gt;/&lt;name&gt;.json</c>.</summary>
public static class Fixtures
{
    public static string PathOf(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name + ".json");

    public static string Text(string name) => File.ReadAllText(PathOf(name));

    public static byte[] Bytes(string name) => Encoding.UTF8.GetBytes(Text(name));

    /// <summary>Parses a fixture that must be a valid PreToolUse event.</summary>
    public static HookEvent Event(string name, HookClient? forced = null)
    {
        Assert.True(HookEventParser.TryParse(Bytes(name), forced, out var e, out _, out var denial), denial?.Reason);
        return e!;
    }

    /// <summary>Every fixture name, e.g. <c>claude-code/read</c>.</summary>
    public static IEnumerable<string> All() =>
        Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "Fixtures"), "*.json", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(Path.Combine(AppContext.BaseDirectory, "Fixtures"), p)[..^5].Replace('\\', '/'))
            .Order(StringComparer.Ordinal);
}
