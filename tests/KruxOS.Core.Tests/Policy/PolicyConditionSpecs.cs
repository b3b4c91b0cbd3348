using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;
using static KruxOS.Core.Tests.Policy.PolicyTestKit;

namespace KruxOS.Core.Tests.Policy;

public sealed class PolicyConditionSpecs
{
    private static Tier WithCondition(string capability, string condition, string args)
    {
        var set = Compile(("org.yaml", $"rules:\n  - capability: {capability}\n    conditions: {condition}\n    tier: blocked\n"));
        return Decide(set, capability, args).Tier;
    }

    [Theory]
    [InlineData("{ path_prefix: /workspace/tmp }", """{"path":"/workspace/tmp/a.txt"}""", true)]
    [InlineData("{ path_prefix: /workspace/tmp }", """{"path":"/workspace/tmp"}""", true)]
    [InlineData("{ path_prefix: /workspace/tmp }", """{"path":"/workspace/tmpfile"}""", false)]
    [InlineData("{ path_prefix: /workspace/tmp }", """{"path":"tmp/a.txt"}""", true)]
    [InlineData("{ path_prefix: /workspace/tmp }", """{"path":"/workspace//tmp/./a"}""", true)]
    [InlineData("{ path_prefix: /workspace/tmp }", """{"path":"/workspace/tmp/../src/a"}""", false)]
    [InlineData("{ path_prefix: /workspace/tmp/ }", """{"path":"/workspace/tmp/a"}""", true)]
    [InlineData("{ path_prefix: tmp }", """{"path":"/workspace/tmp/a"}""", true)]
    [InlineData("{ path_prefix: / }", """{"path":"/anything"}""", true)]
    [InlineData("{ path_prefix: /workspace/tmp }", """{"content":"no path"}""", false)]
    [InlineData("{ path_prefix: /workspace/tmp }", """{"path":42}""", false)]
    public void Should_evaluate_path_prefix_on_canonical_paths(string condition, string args, bool matches) =>
        Assert.Equal(matches ? Tier.Blocked : Tier.Notify, WithCondition("filesystem.write", condition, args));

    [Theory]
    [InlineData("/workspace/**/*.md", "/workspace/a.md", true)]
    [InlineData("/workspace/**/*.md", "/workspace/docs/deep/a.md", true)]
    [InlineData("/workspace/**/*.md", "/workspace/a.mdx", false)]
    [InlineData("/workspace/*.md", "/workspace/docs/a.md", false)]
    [InlineData("/workspace/?.txt", "/workspace/a.txt", true)]
    [InlineData("/workspace/?.txt", "/workspace/ab.txt", false)]
    [InlineData("/workspace/[abc].txt", "/workspace/b.txt", true)]
    [InlineData("/workspace/[!abc].txt", "/workspace/b.txt", false)]
    [InlineData("**/.env", "/workspace/app/.env", true)]
    [InlineData("/workspace/**", "/workspace/../home/x", false)]
    public void Should_evaluate_path_glob(string glob, string path, bool matches) =>
        Assert.Equal(matches ? Tier.Blocked : Tier.Notify,
            WithCondition("filesystem.write", $"{{ path_glob: \"{glob}\" }}", $$"""{"path":"{{path}}"}"""));

    [Theory]
    [InlineData("content_size_lt: 10", "123456789", true)]
    [InlineData("content_size_lt: 10", "1234567890", false)]
    [InlineData("content_size_gte: 10", "1234567890", true)]
    [InlineData("content_size_gte: 10", "123456789", false)]
    [InlineData("content_size_lt: 1KiB", "x", true)]
    [InlineData("content_size_gte: 4", "é€", true)] // 2 + 3 UTF-8 bytes
    [InlineData("content_size_gte: 6", "é€", false)]
    [InlineData("content_size_gte: 3", "a\\nb", true)] // escaped newline is one byte
    public void Should_measure_content_size_in_utf8_bytes(string condition, string content, bool matches) =>
        Assert.Equal(matches ? Tier.Blocked : Tier.Notify,
            WithCondition("filesystem.write", $"{{ {condition} }}", $$"""{"path":"/workspace/a","content":"{{content}}"}"""));

    [Fact]
    public void Should_measure_base64_content_by_its_decoded_size()
    {
        // "aGVsbG8=" decodes to 5 bytes.
        Assert.Equal(Tier.Blocked, WithCondition("filesystem.write", "{ content_size_lt: 6 }", """{"path":"/workspace/a","content":"aGVsbG8=","encoding":"base64"}"""));
        Assert.Equal(Tier.Notify, WithCondition("filesystem.write", "{ content_size_lt: 6 }", """{"path":"/workspace/a","content":"aGVsbG8=xxxxxxxx"}"""));
    }

    [Theory]
    [InlineData("{ argument: method, equals: DELETE }", """{"method":"DELETE"}""", true)]
    [InlineData("{ argument: method, equals: DELETE }", """{"method":"delete"}""", false)]
    [InlineData("{ argument: method, equals: [PUT, DELETE] }", """{"method":"PUT"}""", true)]
    [InlineData("{ argument: method, equals: 3 }", """{"method":3.0}""", true)]
    [InlineData("{ argument: method, equals: true }", """{"method":true}""", true)]
    [InlineData("{ argument: method, equals: true }", """{"method":false}""", false)]
    [InlineData("{ argument: url, matches: '^https://internal\\.' }", """{"url":"https://internal.example"}""", true)]
    [InlineData("{ argument: url, matches: '^https://internal\\.' }", """{"url":"https://example.internal."}""", false)]
    [InlineData("{ argument: url, matches: 'evil' }", """{"url":"https://x/evil/y"}""", true)]
    [InlineData("{ argument: missing, matches: '.*' }", """{"url":"x"}""", false)]
    public void Should_evaluate_equals_and_matches(string condition, string args, bool matches) =>
        Assert.Equal(matches ? Tier.Blocked : Tier.Notify, WithCondition("network.http_request", condition, args));

    [Fact]
    public void Should_require_all_conditions_of_a_rule()
    {
        const string conditions = "[ { path_prefix: /workspace/tmp }, { content_size_lt: 5 } ]";
        Assert.Equal(Tier.Blocked, WithCondition("filesystem.write", conditions, """{"path":"/workspace/tmp/a","content":"abc"}"""));
        Assert.Equal(Tier.Notify, WithCondition("filesystem.write", conditions, """{"path":"/workspace/tmp/a","content":"abcdef"}"""));
        Assert.Equal(Tier.Notify, WithCondition("filesystem.write", conditions, """{"path":"/workspace/src/a","content":"abc"}"""));
    }

    [Fact]
    public void Should_decide_a_catastrophic_backtracking_pattern_by_its_inputs_alone()
    {
        // '^(a+)+$' on "aaa…a!" takes exponential time with a backtracking engine; matched in linear time the
        // answer is a plain "no match", the same on any machine under any load.
        var set = Compile(("org.yaml", "rules:\n  - capability: network.http_request\n    conditions: { argument: url, matches: '^(a+)+$' }\n    tier: autonomous\n"));
        var evil = new string('a', 40_000) + "!";
        var d = Decide(set, "network.http_request", $$"""{"url":"{{evil}}"}""");
        Assert.Equal(Tier.Notify, d.Tier);
        Assert.Equal("default:network.http_request", d.RuleReference);
        Assert.Equal(Tier.Autonomous, Decide(set, "network.http_request", $$"""{"url":"{{new string('a', 40_000)}}"}""").Tier);
    }

    [Theory]
    [InlineData("/a/b", "/a/b")]
    [InlineData("/a//b/", "/a/b")]
    [InlineData("/a/./b/../c", "/a/c")]
    [InlineData("a/b", "/workspace/a/b")]
    [InlineData("../x", "/x")]
    [InlineData("", "/workspace")]
    [InlineData("/", "/")]
    [InlineData("/..", null)]
    [InlineData("../../x", null)]
    [InlineData("/a/../../b", null)]
    public void Should_canonicalise_paths_lexically(string path, string? expected)
    {
        var ok = PolicyPaths.TryCanonicalize(path, out var canonical);
        Assert.Equal(expected is not null, ok);
        if (expected is not null) Assert.Equal(expected, canonical);
    }

    [Theory]
    [InlineData("/workspace", "/workspace", true)]
    [InlineData("/workspace/a", "/workspace", true)]
    [InlineData("/workspace2", "/workspace", false)]
    [InlineData("/anything", "/", true)]
    public void Should_compare_prefixes_by_segment(string path, string prefix, bool under) =>
        Assert.Equal(under, PolicyPaths.IsUnder(path, prefix));
}
