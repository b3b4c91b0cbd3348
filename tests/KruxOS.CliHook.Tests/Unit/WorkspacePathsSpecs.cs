namespace KruxOS.CliHook.Tests.Unit;

/// <summary>Host paths become workspace-relative under the client's cwd and stay absolute elsewhere.</summary>
public sealed class WorkspacePathsSpecs
{
    [Theory]
    [InlineData("/home/dev/proj/src/a.cs", "/home/dev/proj", "src/a.cs")]
    [InlineData("src/a.cs", "/home/dev/proj", "src/a.cs")]
    [InlineData("./src//a.cs", "/home/dev/proj", "src/a.cs")]
    [InlineData("/home/dev/proj", "/home/dev/proj", ".")]
    [InlineData("/home/dev/proj/", "/home/dev/proj/", ".")]
    [InlineData(".", "/home/dev/proj", ".")]
    [InlineData("src/../README.md", "/home/dev/proj", "README.md")]
    [InlineData("../x", "/home/dev/proj", "/home/dev/x")]
    [InlineData("/home/dev/project2/a", "/home/dev/proj", "/home/dev/project2/a")]
    [InlineData("/etc/../etc/passwd", "/home/dev/proj", "/etc/passwd")]
    [InlineData("/../../etc", "/home/dev/proj", "/etc")]
    [InlineData("/etc/hosts", "/", "etc/hosts")]
    public void Should_place_a_host_path_in_the_workspace(string path, string cwd, string expected) =>
        Assert.Equal(expected, WorkspacePaths.ToWorkspace(path, cwd));
}
