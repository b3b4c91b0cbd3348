using System.Text.Json.Nodes;

namespace KruxOS.CliHook.Tests.Unit;

/// <summary>What counts as a simple command, and how simple commands map.</summary>
public sealed class ShellCommandSpecs
{
    private const string Cwd = "/home/dev/proj";

    [Theory]
    [InlineData("ls", new[] { "ls" })]
    [InlineData("  cat   a.txt  ", new[] { "cat", "a.txt" })]
    [InlineData("grep 'two words' file", new[] { "grep", "two words", "file" })]
    [InlineData("grep \"two words\" file", new[] { "grep", "two words", "file" })]
    [InlineData("git commit -m 'a $literal'", new[] { "git", "commit", "-m", "a $literal" })]
    [InlineData("echo a=b", new[] { "echo", "a=b" })]
    [InlineData("x''y", new[] { "xy" })]
    [InlineData("git log HEAD~3 a#b", new[] { "git", "log", "HEAD~3", "a#b" })]
    public void Should_split_a_simple_command_into_words(string line, string[] words) =>
        Assert.Equal(words, ShellCommand.SimpleWords(line));

    [Theory]
    [InlineData("cat a | grep b")]
    [InlineData("cat a > b")]
    [InlineData("cat < a")]
    [InlineData("make; make install")]
    [InlineData("make && make install")]
    [InlineData("make || true")]
    [InlineData("sleep 1 &")]
    [InlineData("(cd src)")]
    [InlineData("echo $(whoami)")]
    [InlineData("echo `whoami`")]
    [InlineData("echo $HOME")]
    [InlineData("echo \"$HOME\"")]
    [InlineData("echo \"a\\\"b\"")]
    [InlineData("ls *.txt")]
    [InlineData("ls ~/x")]
    [InlineData("echo {a,b}")]
    [InlineData("FOO=1 make")]
    [InlineData("echo 'unterminated")]
    [InlineData("echo a\nrm -rf /")]
    [InlineData("ls # comment")]
    [InlineData("echo a\\ b")]
    [InlineData("")]
    public void Should_not_treat_a_line_that_needs_a_shell_as_simple(string line) =>
        Assert.Null(ShellCommand.SimpleWords(line));

    [Theory]
    [InlineData("cat a b", "process.run")]          // several files
    [InlineData("cat -n a", "process.run")]         // options change the output
    [InlineData("ls -l", "process.run")]
    [InlineData("ls a b", "process.run")]
    [InlineData("grep -v x f", "process.run")]
    [InlineData("grep x", "process.run")]           // stdin
    [InlineData("curl -X POST https://x.test", "process.run")]
    [InlineData("curl ftp://x.test", "process.run")]
    [InlineData("git", "process.run")]
    [InlineData("git rebase -i HEAD~2", "process.run")]
    [InlineData("git commit", "process.run")]       // opens an editor
    [InlineData("git push -f", "process.run")]
    [InlineData("git log -n 100000", "process.run")] // beyond the capability's limit
    [InlineData("git status --ignored", "process.run")]
    [InlineData("git branch -m a b", "process.run")]
    [InlineData("rm -rf build", "process.run")]
    [InlineData("ls", "filesystem.list")]
    [InlineData("ls -a src", "filesystem.list")]
    [InlineData("grep -ri todo src", "filesystem.search_content")]
    [InlineData("curl https://x.test", "network.http_request")]
    [InlineData("git diff --cached", "git.diff")]
    [InlineData("git log --oneline -20 main", "git.log")]
    [InlineData("git branch", "git.branch")]
    [InlineData("git branch -D topic", "git.branch")]
    [InlineData("git init -b main repo", "git.init")]
    [InlineData("git clone --depth 1 https://github.com/o/r.git", "git.clone")]
    [InlineData("git pull", "git.pull")]
    [InlineData("git push", "git.push")]
    public void Should_map_simple_commands_to_their_capability_or_process_run(string line, string capability) =>
        Assert.Equal(capability, ShellCommand.Map(line, Cwd).Capability);

    [Fact]
    public void Should_run_a_complex_line_as_sh_c_with_the_whole_command()
    {
        var call = ShellCommand.Map("cat a | wc -l", Cwd, timeoutMs: 1500);

        Assert.Equal("process.run", call.Capability);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"command":"sh","args":["-c","cat a | wc -l"],"timeout":2}"""), call.Arguments), call.Arguments.ToJsonString());
    }

    [Fact]
    public void Should_keep_a_background_run_as_process_run_even_for_a_mapped_program()
    {
        var call = ShellCommand.Map("cat big.log", Cwd, background: true);

        Assert.Equal("process.run", call.Capability);
        Assert.True(call.Arguments["background"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("git branch -D topic", """{"action":"delete","name":"topic","force":true}""")]
    [InlineData("git branch topic", """{"action":"create","name":"topic"}""")]
    [InlineData("git diff HEAD~1", """{"commit":"HEAD~1"}""")]
    [InlineData("git log --max-count=3 dev", """{"limit":3,"branch":"dev"}""")]
    [InlineData("git init --initial-branch=trunk /home/dev/proj/sub", """{"initial_branch":"trunk","path":"sub"}""")]
    [InlineData("git clone -b dev https://example.com/team/repo.git /tmp/r", """{"url":"https://example.com/team/repo.git","path":"/tmp/r","branch":"dev"}""")]
    [InlineData("git clone git@example.com:team/tool", """{"url":"git@example.com:team/tool","path":"tool"}""")]
    [InlineData("git commit --message=wip", """{"message":"wip"}""")]
    [InlineData("cat ../other/secret.txt", """{"path":"/home/dev/other/secret.txt"}""")]
    public void Should_carry_the_arguments_of_a_mapped_command(string line, string expected)
    {
        var call = ShellCommand.Map(line, Cwd);

        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(expected), call.Arguments), call.Arguments.ToJsonString());
    }
}
