using KruxOS.Sandbox.Isolation;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// The walk over a cgroup and the groups below it, which an agent stop uses to kill and remove them: a group removed while
/// it is walked (its last process exited and its run removed it — seen in CI as a stop failing with
/// <c>DirectoryNotFoundException</c> while calls raced it) drops out of the list instead of failing the stop.
/// </summary>
public sealed class CgroupWalkTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "kruxos-cgwalk-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(_root)) Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public void Should_list_children_before_their_parent_and_not_walk_into_a_symbolic_link()
    {
        // arrange
        Directory.CreateDirectory(Path.Combine(_root, "a", "a1"));
        Directory.CreateDirectory(Path.Combine(_root, "b"));
        Directory.CreateSymbolicLink(Path.Combine(_root, "link"), "/etc");

        // act
        var found = Cgroups.Subtree(_root);

        // assert: every real group once (sibling order is the file system's), each below its parent, the root last
        string[] expected = [Path.Combine(_root, "a", "a1"), Path.Combine(_root, "a"), Path.Combine(_root, "b"), _root];
        Assert.Equal(expected.Order(StringComparer.Ordinal), found.Order(StringComparer.Ordinal));
        Assert.True(found.IndexOf(expected[0]) < found.IndexOf(expected[1]));
        Assert.Equal(_root, found[^1]);
    }

    [Fact]
    public void Should_leave_out_a_group_removed_while_it_is_walked_and_keep_the_others()
    {
        // arrange: "b" is listed by its parent, then removed before it is read
        var tree = new Dictionary<string, string[]>
        {
            ["/cg"] = ["/cg/a", "/cg/b"],
            ["/cg/a"] = ["/cg/a/1"],
            ["/cg/a/1"] = [],
        };
        string[] Children(string dir) => tree.TryGetValue(dir, out var c) ? c : throw new DirectoryNotFoundException(dir);

        // act
        var found = Cgroups.Subtree("/cg", Children);
        var gone = Cgroups.Subtree("/gone", Children);

        // assert
        Assert.Equal(["/cg/a/1", "/cg/a", "/cg"], found);
        Assert.Empty(gone);
    }
}
