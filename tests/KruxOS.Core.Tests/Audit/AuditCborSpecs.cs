using System.Formats.Cbor;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Core.Tests.Audit;

public sealed class AuditCborSpecs
{
    [Fact]
    public void Should_encode_the_same_entry_to_the_same_bytes_whatever_the_input_property_order()
    {
        var a = AuditTestData.Entry(1) with { Inputs = JsonDocument.Parse("""{"b":1,"a":{"y":[1,2.5,"x"],"x":null}}""").RootElement };
        var b = AuditTestData.Entry(1) with { Inputs = JsonDocument.Parse("""{"a":{"x":null,"y":[1,2.5,"x"]},"b":1}""").RootElement };

        Assert.Equal(AuditCbor.EncodeBody(a), AuditCbor.EncodeBody(b));
    }

    [Fact]
    public void Should_produce_canonical_bytes_that_a_strict_reader_accepts()
    {
        var body = AuditCbor.EncodeBody(AuditTestData.Entry(2) with { Inputs = JsonDocument.Parse("""{"f":0.5,"n":-3,"big":18446744073709551615,"e":1e3}""").RootElement });

        var r = new CborReader(body, CborConformanceMode.Ctap2Canonical);
        r.SkipValue();
        Assert.Equal(0, r.BytesRemaining);
    }

    [Fact]
    public void Should_encode_non_integer_numbers_as_float64_and_integers_as_ints()
    {
        var e = AuditTestData.Entry(3) with { Inputs = JsonDocument.Parse("""{"f":0.5,"i":7,"e":1e3}""").RootElement };
        var body = AuditCbor.EncodeBody(e);

        var hex = Convert.ToHexStringLower(body);
        Assert.Contains("6166" + "fb3fe0000000000000", hex); // "f": 0.5 as float64
        Assert.Contains("616907", hex);                      // "i": 7 as a one-byte int
        Assert.Contains("6165" + "fb408f400000000000", hex); // "e": 1000.0 as float64
    }

    [Fact]
    public void Should_round_trip_a_stored_record_through_split_and_decode()
    {
        var chain = AuditChain.FromGenesis();
        var sealedRecord = chain.Seal(AuditTestData.Entry(4));

        var parts = AuditCbor.Split(sealedRecord.Payload);
        var decoded = AuditCbor.DecodeStored(sealedRecord.Payload);

        Assert.Equal(AuditCbor.EncodeBody(sealedRecord.Entry), parts.Body.ToArray());
        Assert.Equal(AuditCbor.Genesis.ToArray(), parts.PreviousHash.ToArray());
        Assert.Equal(AuditCbor.ComputeHash(parts.Body.Span, AuditCbor.Genesis), parts.EntryHash.ToArray());
        Assert.Equal(sealedRecord.Entry.EntryHash, decoded.EntryHash);
        Assert.Equal(sealedRecord.Entry.Id, decoded.Id);
        Assert.Equal(sealedRecord.Entry.Timestamp, decoded.Timestamp);
        Assert.Equal("/workspace/file4.txt", decoded.Inputs.GetProperty("path").GetString());
        Assert.Equal(AuditCbor.EncodeBody(decoded), parts.Body.ToArray());
    }

    [Fact]
    public void Should_store_unmeasured_resource_figures_as_null_and_read_them_back_as_null()
    {
        // a process.run measures cpu time and memory peak, not I/O
        var entry = AuditTestData.Entry(6) with { ResourceUsage = new AuditResourceUsage(7, 2_097_152, null, null) };

        var sealedRecord = AuditChain.FromGenesis().Seal(entry);
        var decoded = AuditCbor.DecodeStored(sealedRecord.Payload);

        Assert.Equal(new AuditResourceUsage(7, 2_097_152, null, null), decoded.ResourceUsage);
        var hex = Convert.ToHexStringLower(AuditCbor.EncodeBody(entry));
        Assert.Contains("6d" + Convert.ToHexStringLower("io_read_bytes"u8) + "f6", hex);  // every key present, null value
        Assert.Contains("6b" + Convert.ToHexStringLower("cpu_time_ms"u8) + "07", hex);
        Assert.Null(AuditCbor.DecodeStored(AuditChain.FromGenesis().Seal(AuditTestData.Entry(7)).Payload).ResourceUsage);
    }

    [Fact]
    public void Should_keep_timestamps_to_the_microsecond_in_utc()
    {
        var t = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).AddTicks(1234567);

        Assert.Equal("2026-01-02T01:04:05.123456Z", AuditTime.ToText(t));
        Assert.Equal(AuditTime.Truncate(t), AuditTime.Parse(AuditTime.ToText(t)));
    }

    [Fact]
    public void Should_reject_a_record_that_is_not_canonical()
    {
        var sealedRecord = AuditChain.FromGenesis().Seal(AuditTestData.Entry(5));
        var bytes = sealedRecord.Payload.ToArray();
        // re-encode the map header with a needlessly long count (0xb8 0x11 instead of 0xb1)
        var longForm = new byte[bytes.Length + 1];
        longForm[0] = 0xb8;
        longForm[1] = 17;
        bytes.AsSpan(1).CopyTo(longForm.AsSpan(2));

        Assert.ThrowsAny<CborContentException>(() => AuditCbor.Split(longForm));
    }

    [Fact]
    public void Should_use_the_documented_genesis_hash()
    {
        Assert.Equal(
            Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("kruxos-audit-genesis-v1"u8)),
            Convert.ToHexStringLower(AuditCbor.Genesis));
    }

    public static TheoryData<string> EntryShapes() =>
    [
        "call", "call-without-optionals", "chain-note", "approval-resolution", "policy-violation", "big-inputs",
    ];

    [Theory]
    [MemberData(nameof(EntryShapes))]
    public void Should_frame_the_stored_record_from_the_body_exactly_as_encoding_it_again_would(string shape)
    {
        // arrange
        var t = AuditTestData.T0;
        var actor = new Principal(PrincipalKind.Agent, "builder");
        var entry = shape switch
        {
            "call" => AuditTestData.Entry(7),
            "call-without-optionals" => AuditTestData.Entry(8) with { SessionId = null, PolicyDecision = null, Client = null, ResourceUsage = null },
            "chain-note" => AuditEntry.ChainNote(t, new ChainIssue(ChainIssueKind.HashMismatch, "audit-2026-11-25.log", 3, 120, "test")),
            "approval-resolution" => AuditEntry.ApprovalResolution(t, new Principal(PrincipalKind.User, "ops"), actor, "s-1",
                CapabilityName.Parse("git.push"), "appr-0123456789abcdef", "approved", "looks fine"),
            "policy-violation" => AuditEntry.PolicyViolation(t, actor, "s-2", CapabilityName.Parse("process.run"),
                JsonDocument.Parse("""{"command":"rm -rf /etc"}""").RootElement, new AuditPolicyDecision(Tier.Blocked, "system:deny", null, "no")),
            _ => AuditTestData.Entry(9) with
            {
                Inputs = JsonDocument.Parse("{" + string.Join(",", Enumerable.Range(0, 300).Select(i => $"\"k{i}\":\"{new string('v', i)}\"")) + "}").RootElement.Clone(),
                ResourceUsage = new AuditResourceUsage(5, 8_388_608, 1, 2),
            },
        };
        var previous = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("previous " + shape));
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("entry " + shape));

        // act
        var spliced = AuditCbor.FrameStored(AuditCbor.EncodeBody(entry), previous, hash);

        // assert
        Assert.Equal(AuditFraming.Frame(AuditCbor.EncodeStored(entry, previous, hash)), spliced);
    }

    [Fact]
    public void Should_seal_byte_for_byte_as_the_reference_encoding()
    {
        // arrange: the reference is the straightforward encoding (sanitize, encode body, hash, encode again)
        var chain = AuditChain.FromGenesis();
        var head = AuditCbor.Genesis.ToArray();
        for (var i = 0; i < 20; i++)
        {
            var entry = AuditTestData.Entry(i);
            var clean = AuditChain.Sanitize(entry);
            var body = AuditCbor.EncodeBody(clean);
            var hash = AuditCbor.ComputeHash(body, head);
            var expected = AuditFraming.Frame(AuditCbor.EncodeStored(clean, head, hash));

            // act
            var sealedRecord = chain.Seal(entry);

            // assert
            Assert.Equal(expected, sealedRecord.Frame.ToArray());
            Assert.Equal(hash, sealedRecord.EntryHash.ToArray());
            head = hash;
        }
    }
}
