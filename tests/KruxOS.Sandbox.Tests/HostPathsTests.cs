using KruxOS.Sandbox.Isolation;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>The root-side lookup the launcher binds from: no symlink is followed anywhere in the path.</summary>
public sealed class HostPathsTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kruxos-hostpaths-" + Guid.NewGuid().ToString("N")[..8]);

    public HostPathsTests()
    {
        Directory.CreateDirectory(Path.Combine(_root, "real", "inner"));
        File.WriteAllText(Path.Combine(_root, "real", "file.dll"), "x");
        File.CreateSymbolicLink(Path.Combine(_root, "link"), Path.Combine(_root, "real"));
        File.CreateSymbolicLink(Path.Combine(_root, "real", "file-link.dll"), "/etc/shadow");
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Should_refuse_a_symlink_in_any_component_and_as_the_last_one()
    {
        Assert.Contains("symlinks are not followed", Assert.Throws<IOException>(() => HostPaths.Inspect(Path.Combine(_root, "link", "inner"))).Message, StringComparison.Ordinal);
        Assert.Contains("symlinks are not followed", Assert.Throws<IOException>(() => HostPaths.Inspect(Path.Combine(_root, "link"))).Message, StringComparison.Ordinal);
        // a file bind may name a regular file, never a link to one
        Assert.Contains("symlinks are not followed", Assert.Throws<IOException>(() => HostPaths.Inspect(Path.Combine(_root, "real", "file-link.dll"), allowFile: true)).Message, StringComparison.Ordinal);
        Assert.Contains("symlinks are not followed", Assert.Throws<IOException>(() => HostPaths.Inspect(Path.Combine(_root, "link", "file.dll"), allowFile: true)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_take_a_regular_file_only_where_the_caller_allows_one()
    {
        var file = Path.Combine(_root, "real", "file.dll");
        Assert.Throws<IOException>(() => HostPaths.Inspect(file));
        var found = HostPaths.Inspect(file, allowFile: true);
        Assert.True(found.IsFile);
        Assert.False(HostPaths.Inspect(Path.Combine(_root, "real", "inner"), allowFile: true).IsFile);
    }
}
