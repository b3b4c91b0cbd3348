using Xunit;

namespace KruxOS.Sandbox.Tests;

[Collection(SandboxCollection.Name)]
public sealed class SmokeTests(SandboxFixture f)
{
    [Fact]
    public async Task Should_write_and_read_in_the_sandbox()
    {
        var w = await f.Ok("smoke", "filesystem.write", new { path = "hello.txt", content = "hi there" });
        Assert.Equal(8, w.GetProperty("size").GetInt32());
        var r = await f.Ok("smoke", "filesystem.read", new { path = "/workspace/hello.txt" });
        Assert.Equal("hi there", r.GetProperty("content").GetString());
        var p = await f.Ok("smoke", "process.run", new { command = "sh", args = new[] { "-c", "id -u; cat hello.txt" } });
        Assert.Equal("1000\nhi there", p.GetProperty("stdout_summary").GetString());
    }
}
