using Xunit;

namespace KruxOS.Core.Tests.Audit;

/// <summary>Adversarial: an audit record whose JSON value is nested far deeper than the writer ever stores.</summary>
public sealed class AuditJsonDepthSpecs
{
    [Fact]
    public void Should_report_a_record_nested_200000_levels_deep_as_malformed_instead_of_exhausting_the_reader()
    {
        // arrange: 200,000 one-element CBOR arrays (0x81 each) around a null
        var bytes = Enumerable.Repeat((byte)0x81, 200_000).Append((byte)0xF6).ToArray();
        var reader = new System.Formats.Cbor.CborReader(bytes, System.Formats.Cbor.CborConformanceMode.Lax);
        // act + assert: a FormatException, which every audit reader treats as an unreadable record
        var e = Assert.Throws<FormatException>(() => KruxOS.Core.Audit.AuditCbor.ReadJson(reader));
        Assert.Contains("nested deeper than 64", e.Message);
    }
}
