using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Core.Tests.Audit;

/// <summary>
/// Whatever an entry holds, sealing it makes a record: under 1 MiB, canonical, chained, decodable, and verifiable —
/// and what the limits cut is named by size and hash. Each case is content a caller controls.
/// </summary>
public sealed class AuditHostileEntrySpecs
{
    private const int TwoMiB = 2 * 1024 * 1024;

    private static readonly JsonDocumentOptions Deep = new() { MaxDepth = 100_000 };

    private static JsonElement Json(string text) => JsonDocument.Parse(text, Deep).RootElement.Clone();

    private static AuditEntry With(JsonElement inputs) => AuditTestData.Entry(1) with { Inputs = inputs };

    private static string Upper(string text) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    // Seals the entries in one chain and checks every record as a reader and a verifier would.
    private static List<SealedAuditRecord> SealAndVerify(params AuditEntry[] entries)
    {
        var chain = AuditChain.FromGenesis();
        var records = entries.Select(chain.Seal).ToList();
        foreach (var r in records)
        {
            Assert.InRange(r.Payload.Length, 1, AuditFraming.MaxRecordLength);
            var reader = new CborReader(r.Payload, AuditCbor.Mode);
            reader.SkipValue();
            Assert.Equal(0, reader.BytesRemaining);
            var decoded = AuditCbor.DecodeStored(r.Payload);
            Assert.Equal(r.Entry.Id, decoded.Id);
            Assert.Equal(r.Entry.EntryHash, decoded.EntryHash);
        }
        var report = ChainVerifier.Verify([AuditFraming.Scan("audit-2026-11-25.log", AuditTestData.Concat(records))]);
        Assert.True(report.IsIntact, report.Summary);
        Assert.Equal(entries.Length, report.Entries);
        return records;
    }

    private static JsonElement[] Elided(AuditEntry sealedEntry) =>
        [.. sealedEntry.Metadata.Details!.Value.GetProperty("elided").EnumerateArray()];

    [Fact]
    public void Should_record_a_2_MiB_value_by_its_first_bytes_size_and_hash_and_list_it()
    {
        var content = "first line\n" + new string('x', TwoMiB - 11);

        var sealedEntry = SealAndVerify(With(JsonSerializer.SerializeToElement(new { path = "/workspace/big", content })))[0].Entry;

        var recorded = sealedEntry.Inputs.GetProperty("content").GetString()!;
        Assert.StartsWith("first line\nxxx", recorded, StringComparison.Ordinal);
        Assert.EndsWith($"…[elided: {TwoMiB} bytes, sha256:{Upper(content)}]", recorded, StringComparison.Ordinal);
        Assert.Equal("/workspace/big", sealedEntry.Inputs.GetProperty("path").GetString());
        var listed = Assert.Single(Elided(sealedEntry));
        Assert.Equal("/inputs/content", listed.GetProperty("path").GetString());
        Assert.Equal("text", listed.GetProperty("reason").GetString());
        Assert.Equal(TwoMiB, listed.GetProperty("bytes").GetInt64());
        Assert.Equal(Upper(content), listed.GetProperty("sha256").GetString());
    }

    [Fact]
    public void Should_redact_a_token_inside_a_large_value_before_hashing_it_and_never_mistake_the_hash_for_a_token()
    {
        var token = new string('a', 64);
        var content = new string('x', 10_000) + " " + token + " " + new string('y', 10_000);

        var sealedEntry = SealAndVerify(With(JsonSerializer.SerializeToElement(new { content })))[0].Entry;

        var redacted = content.Replace(token, InputSanitizer.TokenRedaction, StringComparison.Ordinal);
        Assert.Equal(Upper(redacted), Elided(sealedEntry)[0].GetProperty("sha256").GetString());
        Assert.Contains($"sha256:{Upper(redacted)}", sealedEntry.Inputs.GetProperty("content").GetString(), StringComparison.Ordinal);
        // sealing what was sealed changes nothing: the hash is not redacted as if it were a token
        Assert.Equal(AuditCbor.EncodeBody(sealedEntry), AuditCbor.EncodeBody(AuditChain.Prepare(sealedEntry)));
    }

    [Fact]
    public void Should_record_a_2_MiB_key_by_its_first_bytes_size_and_hash()
    {
        var key = "k" + new string('z', TwoMiB - 1);

        var sealedEntry = SealAndVerify(With(JsonSerializer.SerializeToElement(new Dictionary<string, int> { [key] = 7 })))[0].Entry;

        var property = Assert.Single(sealedEntry.Inputs.EnumerateObject());
        Assert.Contains($"sha256:{Upper(key)}", property.Name, StringComparison.Ordinal);
        Assert.True(Encoding.UTF8.GetByteCount(property.Name) <= AuditLimits.MaxKeyBytes);
        Assert.Equal(7, property.Value.GetInt32());
        Assert.Equal("key", Elided(sealedEntry)[0].GetProperty("reason").GetString());
    }

    [Fact]
    public void Should_cut_nesting_deeper_than_the_limit_and_give_its_size()
    {
        const int Levels = 5000;
        var deep = new string('[', Levels) + "1" + new string(']', Levels);

        var sealedEntry = SealAndVerify(With(Json($$"""{"deep":{{deep}}}""")))[0].Entry;

        var listed = Assert.Single(Elided(sealedEntry));
        Assert.Equal("depth", listed.GetProperty("reason").GetString());
        Assert.Equal(JsonValueKind.Null, listed.GetProperty("sha256").ValueKind);
        Assert.StartsWith("/inputs/deep/0/0/", listed.GetProperty("path").GetString(), StringComparison.Ordinal);
        // the first levels are kept
        var e = sealedEntry.Inputs.GetProperty("deep");
        for (var i = 0; i < AuditLimits.MaxDepth - 2; i++) e = e[0];
        Assert.Equal(JsonValueKind.Array, e.ValueKind);
    }

    [Fact]
    public void Should_make_lone_surrogates_and_invalid_utf8_valid_text_everywhere()
    {
        var inputs = Json("""{"a\ud800":"x\udc00y","\ud800":1,"\udc00":2,"ok":"\ud83d\ude00"}""");
        var raw = Encoding.UTF8.GetBytes("""{"bad":"ab"}""").ToList();
        raw.InsertRange(9, new byte[] { 0xff, 0xc3 }); // inside "ab": not UTF-8
        var invalidUtf8 = JsonDocument.Parse(raw.ToArray()).RootElement.Clone();
        const string lone = "name\ud800";
        var fields = AuditTestData.Entry(3) with
        {
            Actor = new Principal(PrincipalKind.Agent, lone),
            Capability = "cap" + "\udfff",
            SessionId = lone,
            OutputSummary = lone,
            Client = new AuditClient(lone, lone),
            PolicyDecision = new AuditPolicyDecision(Tier.Blocked, lone, null, lone),
            Metadata = new AuditMetadata(lone, lone, lone, lone, Json("""{"d\udbff":"\udbff"}""")),
        };

        var records = SealAndVerify(With(inputs), AuditTestData.Entry(2) with { Inputs = invalidUtf8 }, fields);

        var first = records[0].Entry.Inputs;
        Assert.Equal("x\uFFFDy", first.GetProperty("a\uFFFD").GetString());
        Assert.Equal(2, first.GetProperty("\uFFFD").GetInt32()); // two names that became equal: the last value is kept
        Assert.Equal("\ud83d\ude00", first.GetProperty("ok").GetString()); // a valid pair is kept as it is
        Assert.Contains('\uFFFD', records[1].Entry.Inputs.GetProperty("bad").GetString()!);
        var f = records[2].Entry;
        Assert.Equal("name\uFFFD", f.Actor.Name);
        Assert.Equal("cap\uFFFD", f.Capability);
        Assert.Equal("name\uFFFD", f.Client!.Version);
        Assert.Equal("name\uFFFD", f.PolicyDecision!.Reason);
        Assert.Equal("\uFFFD", f.Metadata.Details!.Value.GetProperty("d\uFFFD").GetString());
    }

    [Fact]
    public void Should_keep_a_number_outside_the_float64_range_as_the_text_it_was_written_as()
    {
        var huge = "1" + new string('0', 400);

        var sealedEntry = SealAndVerify(With(Json($$"""{"inf":1e400,"neg":-1e400,"tiny":1e-400,"huge":{{huge}},"big":123456789012345678901234567890}""")))[0].Entry;

        Assert.Equal("1e400", sealedEntry.Inputs.GetProperty("inf").GetString());
        Assert.Equal("-1e400", sealedEntry.Inputs.GetProperty("neg").GetString());
        Assert.Equal(huge, sealedEntry.Inputs.GetProperty("huge").GetString());
        Assert.Equal(0.0, sealedEntry.Inputs.GetProperty("tiny").GetDouble()); // rounds to zero: a finite double
        Assert.Equal(1.2345678901234568e29, sealedEntry.Inputs.GetProperty("big").GetDouble());
        Assert.Equal(["/inputs/huge", "/inputs/inf", "/inputs/neg"], Elided(sealedEntry).Select(e => e.GetProperty("path").GetString()!).Order().ToArray());
        Assert.All(Elided(sealedEntry), e => Assert.Equal("number", e.GetProperty("reason").GetString()));
    }

    [Fact]
    public void Should_record_inputs_still_too_large_after_the_other_limits_by_their_size_and_hash_only()
    {
        var many = JsonSerializer.SerializeToElement(Enumerable.Range(0, 100_000).ToArray());

        var sealedEntry = SealAndVerify(With(JsonSerializer.SerializeToElement(new { many })))[0].Entry;

        Assert.Equal(JsonValueKind.String, sealedEntry.Inputs.ValueKind);
        Assert.StartsWith("[elided: ", sealedEntry.Inputs.GetString(), StringComparison.Ordinal);
        var listed = Assert.Single(Elided(sealedEntry));
        Assert.Equal(("/inputs", "size"), (listed.GetProperty("path").GetString(), listed.GetProperty("reason").GetString()));
        Assert.True(listed.GetProperty("bytes").GetInt64() > AuditLimits.MaxInputsBytes);
    }

    [Fact]
    public void Should_list_at_most_the_limit_of_cuts_and_count_the_rest()
    {
        var values = Enumerable.Range(0, 40).ToDictionary(i => $"v{i}", i => new string((char)('a' + i % 26), 5000));

        var sealedEntry = SealAndVerify(With(JsonSerializer.SerializeToElement(values)))[0].Entry;

        Assert.Equal(AuditLimits.MaxListedElisions, Elided(sealedEntry).Length);
        Assert.Equal(40 - AuditLimits.MaxListedElisions, sealedEntry.Metadata.Details!.Value.GetProperty("elided_more").GetInt32());
    }

    [Fact]
    public void Should_cap_every_free_text_field_of_the_entry_and_list_each_cut()
    {
        var big = new string('q', TwoMiB);
        var entry = AuditTestData.Entry(5) with
        {
            Capability = big,
            SessionId = big,
            OutputSummary = big,
            Client = new AuditClient(big, big),
            PolicyDecision = new AuditPolicyDecision(Tier.Blocked, big, null, big),
            Metadata = new AuditMetadata(big, big, big, big, JsonSerializer.SerializeToElement(new { native_tool = big })),
        };

        var sealedEntry = SealAndVerify(entry)[0].Entry;

        var paths = Elided(sealedEntry).Select(e => e.GetProperty("path").GetString()).ToHashSet();
        Assert.Superset(new HashSet<string?>
        {
            "/capability", "/session_id", "/output_summary", "/client/name", "/client/version", "/policy_decision/rule",
            "/policy_decision/reason", "/metadata/approval_request_id", "/metadata/decided_by", "/metadata/error_type",
            "/metadata/details/native_tool",
        }, paths);
        Assert.True(sealedEntry.Capability.Length < 200);
    }

    [Fact]
    public void Should_seal_a_minimal_form_of_an_entry_that_cannot_be_encoded_and_keep_the_chain_going()
    {
        var document = JsonDocument.Parse("""{"a":1}""");
        var disposed = document.RootElement;
        document.Dispose();
        var broken = AuditTestData.Entry(6) with { Inputs = disposed };
        var badKind = AuditTestData.Entry(7) with { Kind = (AuditEntryKind)99, Status = (AuditStatus)42 };
        var noActor = AuditTestData.Entry(8) with { Actor = null! };

        var records = SealAndVerify(broken, badKind, AuditTestData.Entry(9), noActor);

        var minimal = records[0].Entry;
        Assert.Equal(broken.Id, minimal.Id);
        Assert.Equal("filesystem.read", minimal.Capability);
        Assert.Contains(Elided(minimal), e => e.GetProperty("reason").GetString() == "unencodable");
        Assert.Equal((AuditEntryKind.Call, AuditStatus.Error), (records[1].Entry.Kind, records[1].Entry.Status));
        Assert.Equal(badKind.Id, records[1].Entry.Id);
        Assert.Equal(noActor.Id, records[3].Entry.Id);
    }

    [Fact]
    public void Should_prepare_idempotently()
    {
        var entry = With(JsonSerializer.SerializeToElement(new
        {
            content = new string('c', 50_000),
            password = "hunter2",
            nested = new { token = new string('b', 64), list = new[] { new string('d', 9000) } },
        })) with { OutputSummary = new string('o', 10_000) };

        var once = AuditChain.Prepare(entry);
        var twice = AuditChain.Prepare(once);

        Assert.Equal(AuditCbor.EncodeBody(once), AuditCbor.EncodeBody(twice));
        Assert.Equal("[REDACTED:password]", once.Inputs.GetProperty("password").GetString());
        Assert.Equal("[REDACTED:token]", once.Inputs.GetProperty("nested").GetProperty("token").GetString());
    }

    [Fact]
    public void Should_never_throw_anything_but_a_format_error_when_decoding_a_damaged_record()
    {
        var valid = AuditChain.FromGenesis().Seal(With(Json("""{"a":[1,2.5,{"b":"c"}],"n":-7}"""))).Payload.ToArray();
        var random = new Random(20261125);

        for (var i = 0; i < 5000; i++)
        {
            var damaged = (byte[])valid.Clone();
            for (var flips = random.Next(1, 4); flips > 0; flips--) damaged[random.Next(damaged.Length)] = (byte)random.Next(256);
            try
            {
                AuditCbor.DecodeStored(damaged);
            }
            catch (Exception ex) when (ex is CborContentException or FormatException)
            {
                // a damaged record is reported, never a crash
            }
        }
    }

    [Fact]
    public void Should_seal_randomly_generated_hostile_inputs_without_failing()
    {
        var random = new Random(7);
        var entries = new List<AuditEntry>();
        for (var i = 0; i < 200; i++) entries.Add(With(Json(RandomJson(random, 0))));

        SealAndVerify([.. entries]);
    }

    private static string RandomJson(Random random, int depth)
    {
        var pick = depth > 40 ? random.Next(4) : random.Next(7);
        switch (pick)
        {
            case 0: return "null";
            case 1: return random.Next(2) == 0 ? "true" : $"{random.Next()}e{random.Next(-500, 500)}";
            case 2: return $"-{random.NextInt64()}{(random.Next(3) == 0 ? new string('9', random.Next(1, 400)) : "")}";
            case 3: return RandomString(random);
            case 4:
            case 5:
                var items = Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomJson(random, depth + 1));
                return "[" + string.Join(",", items) + "]";
            default:
                var props = Enumerable.Range(0, random.Next(0, 4)).Select(_ => RandomString(random) + ":" + RandomJson(random, depth + 1));
                return "{" + string.Join(",", props) + "}";
        }
    }

    private static string RandomString(Random random)
    {
        var sb = new StringBuilder("\"");
        var length = random.Next(3) == 0 ? random.Next(4000, 9000) : random.Next(0, 20);
        for (var i = 0; i < length; i++)
        {
            sb.Append(random.Next(12) switch
            {
                0 => "\\ud800",
                1 => "\\udfff",
                2 => "\\u0000",
                3 => "\\\"",
                4 => "é",
                5 => "\\ud83d\\ude00",
                _ => ((char)random.Next('a', 'z' + 1)).ToString(),
            });
        }
        return sb.Append('"').ToString();
    }
}
