using KruxOS.Core.Proxy;
using Xunit;

namespace KruxOS.Core.Tests.Proxy;

/// <summary>Service names become paths and vault names; write ids and markers are read back from agents and providers.</summary>
public sealed class ProxyNamesSpecs
{
    [Theory]
    [InlineData("gmail")]
    [InlineData("slack")]
    [InlineData("m365")]
    public void Should_accept_plain_service_names(string name) => Assert.True(ServiceName.TryParse(name, out _, out _));

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("../etc")]
    [InlineData("gmail/oauth")]
    [InlineData("Gmail")]
    [InlineData("g")]
    [InlineData("1gmail")]
    [InlineData("gm ail")]
    [InlineData("gmail.")]
    public void Should_refuse_anything_that_could_walk_a_path_or_a_vault_name(string name) => Assert.False(ServiceName.TryParse(name, out _, out _));

    [Fact]
    public void Should_round_trip_write_ids_and_refuse_others()
    {
        var id = WriteId.New(DateTimeOffset.UtcNow);
        Assert.True(WriteId.TryParse(id.Value, out var parsed, out _));
        Assert.Equal(id, parsed);
        Assert.False(WriteId.TryParse("wr-../../x", out _, out _));
        Assert.False(WriteId.TryParse("wr-" + new string('A', 32), out _, out _));
        Assert.False(WriteId.TryParse(null, out _, out _));
    }

    [Fact]
    public void Should_make_markers_that_belong_to_their_write_and_cannot_be_derived_from_its_id()
    {
        var id = WriteId.New(DateTimeOffset.UtcNow);
        var a = WriteMarker.New(id);
        var b = WriteMarker.New(id);
        Assert.True(a.IsFor(id));
        Assert.NotEqual(a, b);
        Assert.False(a.IsFor(WriteId.New(DateTimeOffset.UtcNow.AddSeconds(1))));
        Assert.True(WriteMarker.TryParse(a.Value, out var parsed));
        Assert.Equal(a, parsed);
        Assert.False(WriteMarker.TryParse("kxw-" + id.Value[3..], out _));
        Assert.Matches("^[a-z0-9-]+$", a.Value);
    }
}
