using System.Text;
using System.Text.Json;
using KruxOS.Core.Approvals;
using KruxOS.Core.State;
using Xunit;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>The stored form of JSON values: canonical, validated, and never silently changed.</summary>
public sealed class StoredJsonSpecs
{
    [Theory]
    [InlineData("""{"b":1,"a":{"d":[3,1],"c":null}}""")]
    [InlineData("""[1.0, 1e3, -0, "x\u00e9\n"]""")]
    [InlineData("\"plain\"")]
    [InlineData("12345678901234567890123")]
    [InlineData("null")]
    public void Should_store_the_canonical_form_approvals_hash(string json)
    {
        var stored = StoredJson.Parse(json);
        Assert.Equal(ApprovalArguments.Canonical(E(json)), stored.Text);
        Assert.Equal(Encoding.UTF8.GetByteCount(stored.Text), stored.ByteCount);
    }

    [Fact]
    public void Should_refuse_a_value_with_duplicate_property_names_instead_of_picking_one()
    {
        Assert.False(StoredJson.TryCreate(E("""{"owner":"me","owner":"attacker"}"""), 1000, out _, out var reason));
        Assert.Contains("'owner' more than once", reason);
        Assert.False(StoredJson.TryCreate(E("""{"a":[{"x":1,"x":2}]}"""), 1000, out _, out _));
    }

    [Theory]
    [InlineData("\"x\\ud800y\"")]
    [InlineData("\"\\udc00\"")]
    [InlineData("{\"\\ud800\":1}")]
    [InlineData("[\"ok\",{\"k\":\"\\udfff\\ud800\"}]")]
    public void Should_refuse_lone_surrogates_instead_of_storing_a_replacement_character(string json)
    {
        Assert.False(StoredJson.TryCreate(E(json), 1000, out var stored, out var reason));
        Assert.Same(StoredJson.Null, stored);
        Assert.Contains("not valid Unicode", reason);
    }

    [Fact]
    public void Should_refuse_invalid_utf8_without_throwing()
    {
        using var doc = JsonDocument.Parse(new byte[] { (byte)'[', (byte)'"', 0xC3, 0x28, (byte)'"', (byte)']' });
        Assert.False(StoredJson.TryCreate(doc.RootElement, 1000, out _, out var reason));
        Assert.Contains("not valid Unicode", reason);
    }

    [Fact]
    public void Should_refuse_nesting_deeper_than_64_levels()
    {
        var deep = new string('[', 65) + new string(']', 65);
        using var doc = JsonDocument.Parse(deep, new JsonDocumentOptions { MaxDepth = 200 });
        Assert.False(StoredJson.TryCreate(doc.RootElement, 10_000, out _, out var reason));
        Assert.Contains("deeper than 64", reason);
        Assert.True(StoredJson.TryCreate(E(new string('[', 64) + new string(']', 64)), 10_000, out _, out _));
    }

    [Fact]
    public void Should_refuse_a_value_over_the_limit_measured_as_canonical_json()
    {
        var value = E("[" + string.Join(",", Enumerable.Repeat("1", 600)) + "]");
        Assert.False(StoredJson.TryCreate(value, 1000, out _, out var reason));
        Assert.Contains("larger than 1000 bytes", reason);
        // whitespace does not count: 1,199 bytes of padding around a 2-byte value
        Assert.True(StoredJson.TryCreate(E("[" + new string(' ', 1197) + "]"), 2, out var small, out _));
        Assert.Equal("[]", small.Text);
    }

    [Fact]
    public void Should_write_the_value_raw_and_revalidate_it_when_read_back()
    {
        var holder = new Holder(J("""{"a":[1,2]}"""));
        var text = JsonSerializer.Serialize(holder);
        Assert.Equal("""{"Value":{"a":[1,2]}}""", text);
        Assert.Equal(holder.Value, JsonSerializer.Deserialize<Holder>(text)!.Value);
        Assert.Equal(StoredJson.Null, JsonSerializer.Deserialize<Holder>("""{"Value":null}""")!.Value);
        // a tampered journal cannot smuggle in what the boundary refuses
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<Holder>("""{"Value":{"k":1,"k":2}}"""));
        Assert.Equal("""{"a":1,"b":2}""", JsonSerializer.Deserialize<Holder>("""{"Value":{ "b":2, "a":1 }}""")!.Value.Text);
    }

    [Fact]
    public void Should_compare_by_content()
    {
        Assert.Equal(J("""{"a":1,"b":2}"""), J("""{"b":2,"a":1}"""));
        Assert.NotEqual(J("1"), J("1.0"));
        Assert.Equal(J("[1]").GetHashCode(), J("[ 1 ]").GetHashCode());
        Assert.Equal(JsonValueKind.Object, J("{}").Kind);
        Assert.Equal(JsonValueKind.Number, J("-1").Kind);
        Assert.Equal(2, J("""{"n":2}""").ToElement().GetProperty("n").GetInt32());
    }

    private sealed record Holder(StoredJson Value);
}
