using System.Buffers;
using System.Formats.Cbor;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Audit;

/// <summary>
/// The canonical CBOR form of audit entries and the hash chain formula (see <c>docs/audit-format.md</c>).
/// <list type="bullet">
/// <item>Encoding: CTAP2 canonical CBOR (definite lengths, shortest integer/length forms, map keys sorted
/// by encoded length then bytewise, no tags, no duplicate keys).</item>
/// <item>Body: a map of the 15 entry fields; absent optional values are CBOR null, never omitted.</item>
/// <item>Stored record: the body map plus <c>previous_hash</c> and <c>entry_hash</c> (32-byte byte strings).</item>
/// <item><c>entry_hash = SHA-256(body ‖ previous_hash)</c> over the raw 32 bytes of <c>previous_hash</c>.</item>
/// <item>Genesis <c>previous_hash</c> = SHA-256 of the ASCII string <c>kruxos-audit-genesis-v1</c>.</item>
/// </list>
/// </summary>
public static class AuditCbor
{
    /// <summary>The conformance mode of every audit encoder and strict decoder.</summary>
    public const CborConformanceMode Mode = CborConformanceMode.Ctap2Canonical;

    /// <summary>Length of a hash in bytes.</summary>
    public const int HashLength = 32;

    /// <summary>The string whose SHA-256 is the genesis previous hash.</summary>
    public const string GenesisSeed = "kruxos-audit-genesis-v1";

    /// <summary>The previous hash of the very first entry: SHA-256("kruxos-audit-genesis-v1").</summary>
    public static ReadOnlySpan<byte> Genesis => GenesisBytes;

    private static readonly byte[] GenesisBytes = SHA256.HashData(Encoding.ASCII.GetBytes(GenesisSeed));

    /// <summary>Field keys of the canonical map.</summary>
    public static class Keys
    {
#pragma warning disable CS1591 // the names are the documentation
        public const string Id = "id";
        public const string Kind = "kind";
        public const string Timestamp = "timestamp";
        public const string Actor = "actor";
        public const string SessionId = "session_id";
        public const string Capability = "capability";
        public const string Inputs = "inputs";
        public const string OutputSummary = "output_summary";
        public const string Status = "status";
        public const string PolicyDecision = "policy_decision";
        public const string DurationMs = "duration_ms";
        public const string ResourceUsage = "resource_usage";
        public const string SchemaVersion = "schema_version";
        public const string Metadata = "metadata";
        public const string Client = "client";
        public const string PreviousHash = "previous_hash";
        public const string EntryHash = "entry_hash";
        public const string Node = "node";
#pragma warning restore CS1591
    }

    /// <summary>Canonical bytes of the entry without its hash fields: the input of the hash.</summary>
    public static byte[] EncodeBody(AuditEntry entry) => EncodeBody(entry, new CborWriter(Mode));

    /// <summary>
    /// <see cref="EncodeBody(AuditEntry)"/> with a writer the caller keeps (it is reset first), so its buffers
    /// and canonical-ordering tables are reused from entry to entry. The writer must be in <see cref="Mode"/>.
    /// </summary>
    public static byte[] EncodeBody(AuditEntry entry, CborWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (writer.ConformanceMode != Mode) throw new ArgumentException("the writer must use the audit conformance mode", nameof(writer));
        writer.Reset();
        WriteMap(writer, entry, null, null);
        return writer.Encode();
    }

    /// <summary>The stored record: the body plus <c>previous_hash</c> and <c>entry_hash</c>.</summary>
    public static byte[] EncodeStored(AuditEntry entry, ReadOnlySpan<byte> previousHash, ReadOnlySpan<byte> entryHash)
    {
        var w = new CborWriter(Mode);
        WriteMap(w, entry, previousHash.ToArray(), entryHash.ToArray());
        return w.Encode();
    }

    // The two hash pairs of a stored record, as canonical CBOR: a text key and a 32-byte byte string.
    private static readonly byte[] PreviousHashKey = EncodeKey(Keys.PreviousHash);
    private static readonly byte[] EntryHashKey = EncodeKey(Keys.EntryHash);
    private const int HashValueLength = 2 + HashLength; // 0x58 0x20 + 32 bytes

    private static byte[] EncodeKey(string key)
    {
        var w = new CborWriter(Mode);
        w.WriteTextString(key);
        return w.Encode();
    }

    /// <summary>
    /// The framed stored record (4-byte big-endian length, then the record) built from the body's canonical
    /// bytes, without encoding the entry a second time: the <c>previous_hash</c> and <c>entry_hash</c> pairs are
    /// inserted among the body's top-level entries at their canonical positions and the map header is
    /// rewritten. The result is byte for byte <c>Frame(EncodeStored(entry, previousHash, entryHash))</c>.
    /// </summary>
    public static byte[] FrameStored(ReadOnlyMemory<byte> body, ReadOnlySpan<byte> previousHash, ReadOnlySpan<byte> entryHash)
    {
        if (previousHash.Length != HashLength || entryHash.Length != HashLength) throw new ArgumentException("hashes must be 32 bytes");
        var r = new CborReader(body, Mode);
        var count = r.ReadStartMap() ?? throw new FormatException("indefinite-length map");
        var headerLength = body.Length - r.BytesRemaining;
        var newCount = count + 2;
        var newHeaderLength = newCount < 24 ? 1 : newCount < 256 ? 2 : 3;
        var recordLength = body.Length - headerLength + newHeaderLength + PreviousHashKey.Length + EntryHashKey.Length + 2 * HashValueLength;
        if (recordLength > AuditFraming.MaxRecordLength) throw new ArgumentException("record length out of range", nameof(body));
        var frame = new byte[AuditFraming.PrefixLength + recordLength];
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)recordLength);
        var at = AuditFraming.PrefixLength;
        switch (newHeaderLength)
        {
            case 1: frame[at++] = (byte)(0xA0 | newCount); break;
            case 2: frame[at++] = 0xB8; frame[at++] = (byte)newCount; break;
            default: frame[at++] = 0xB9; frame[at++] = (byte)(newCount >> 8); frame[at++] = (byte)newCount; break;
        }
        var span = body.Span;
        var copied = headerLength; // body bytes before this position are in the frame already (or are the old header)
        // Our two keys in canonical order; each goes right before the first body key that sorts after it.
        var entryFirst = CompareKeys(EntryHashKey, PreviousHashKey) < 0;
        var inserted = 0;
        for (var i = 0; i < count && inserted < 2; i++)
        {
            var keyStart = body.Length - r.BytesRemaining;
            r.SkipValue();
            var key = span[keyStart..(body.Length - r.BytesRemaining)];
            r.SkipValue();
            while (inserted < 2 && CompareKeys(OurKey(inserted), key) < 0)
            {
                Copy(span[copied..keyStart]);
                copied = keyStart;
                OurPair(inserted++, entryHash, previousHash);
            }
        }
        Copy(span[copied..]);
        while (inserted < 2) OurPair(inserted++, entryHash, previousHash);
        if (at != frame.Length) throw new InvalidOperationException("stored record length mismatch");
        return frame;

        void Copy(ReadOnlySpan<byte> bytes)
        {
            bytes.CopyTo(frame.AsSpan(at));
            at += bytes.Length;
        }

        byte[] OurKey(int n) => (n == 0) == entryFirst ? EntryHashKey : PreviousHashKey;

        void OurPair(int n, ReadOnlySpan<byte> entry, ReadOnlySpan<byte> previous)
        {
            var isEntry = (n == 0) == entryFirst;
            Copy(isEntry ? EntryHashKey : PreviousHashKey);
            frame[at++] = 0x58;
            frame[at++] = HashLength;
            Copy(isEntry ? entry : previous);
        }
    }

    // Canonical (CTAP2) key order: shorter encodings first, then bytewise.
    private static int CompareKeys(ReadOnlySpan<byte> a, ReadOnlySpan<byte> b) =>
        a.Length != b.Length ? a.Length.CompareTo(b.Length) : a.SequenceCompareTo(b);

    /// <summary><c>SHA-256(body ‖ previousHash)</c>.</summary>
    public static byte[] ComputeHash(ReadOnlySpan<byte> body, ReadOnlySpan<byte> previousHash)
    {
        if (previousHash.Length != HashLength) throw new ArgumentException("previous hash must be 32 bytes", nameof(previousHash));
        using var h = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        h.AppendData(body);
        h.AppendData(previousHash);
        return h.GetHashAndReset();
    }

    /// <summary>
    /// Splits a stored record into its body (the same map without the two hash pairs) and its hashes,
    /// without interpreting the other values. Throws <see cref="CborContentException"/> or
    /// <see cref="FormatException"/> when the record is not a canonical audit record.
    /// </summary>
    public static StoredParts Split(ReadOnlyMemory<byte> stored)
    {
        var r = new CborReader(stored, Mode);
        var count = r.ReadStartMap() ?? throw new FormatException("indefinite-length map");
        byte[]? prev = null, hash = null;
        var w = new CborWriter(Mode);
        w.WriteStartMap(count - 2);
        for (var i = 0; i < count; i++)
        {
            var key = r.ReadTextString();
            var value = r.ReadEncodedValue();
            switch (key)
            {
                case Keys.PreviousHash: prev = ReadHash(value); break;
                case Keys.EntryHash: hash = ReadHash(value); break;
                default:
                    w.WriteTextString(key);
                    w.WriteEncodedValue(value.Span);
                    break;
            }
        }
        r.ReadEndMap();
        if (r.BytesRemaining != 0) throw new FormatException("bytes after the record map");
        if (prev is null || hash is null) throw new FormatException("record lacks previous_hash or entry_hash");
        w.WriteEndMap();
        return new StoredParts(w.Encode(), prev, hash);
    }

    private static byte[] ReadHash(ReadOnlyMemory<byte> value)
    {
        var r = new CborReader(value, Mode);
        var bytes = r.ReadByteString();
        if (bytes.Length != HashLength) throw new FormatException("hash is not 32 bytes");
        return bytes;
    }

    /// <summary>
    /// Decodes a stored record into an entry (with its hashes as hex). Tolerates unknown keys. A record that is not a
    /// readable audit record throws <see cref="CborContentException"/> or <see cref="FormatException"/>, and only those:
    /// readers skip such a record (the verification reports it) instead of failing.
    /// </summary>
    public static AuditEntry DecodeStored(ReadOnlyMemory<byte> stored)
    {
        try
        {
            return Decode(stored);
        }
        catch (Exception ex) when (ex is not (CborContentException or FormatException or OutOfMemoryException))
        {
            // e.g. an integer out of range (OverflowException), a wrong type (InvalidOperationException), a value JSON cannot hold
            throw new FormatException($"not a readable audit record: {ex.Message}", ex);
        }
    }

    private static AuditEntry Decode(ReadOnlyMemory<byte> stored)
    {
        var r = new CborReader(stored, Mode);
        var count = r.ReadStartMap() ?? throw new FormatException("indefinite-length map");
        Guid id = default;
        DateTimeOffset ts = default;
        var kind = AuditEntryKind.Call;
        Principal? actor = null;
        string? session = null, capability = null, summary = null, prev = null, hash = null, node = null;
        var inputs = CoreJson.EmptyObject;
        var status = AuditStatus.Success;
        AuditPolicyDecision? decision = null;
        AuditResourceUsage? usage = null;
        AuditClient? client = null;
        var metadata = AuditMetadata.Empty;
        long duration = 0;
        var schema = 0;
        for (var i = 0; i < count; i++)
        {
            switch (r.ReadTextString())
            {
                case Keys.Id: id = Guid.Parse(r.ReadTextString()); break;
                case Keys.Kind: kind = AuditWire.ParseKind(r.ReadTextString()); break;
                case Keys.Timestamp: ts = AuditTime.Parse(r.ReadTextString()); break;
                case Keys.Actor: actor = ReadActor(r); break;
                case Keys.SessionId: session = ReadNullableText(r); break;
                case Keys.Capability: capability = r.ReadTextString(); break;
                case Keys.Inputs: inputs = ReadJson(r); break;
                case Keys.OutputSummary: summary = r.ReadTextString(); break;
                case Keys.Status: status = AuditWire.ParseStatus(r.ReadTextString()); break;
                case Keys.PolicyDecision: decision = ReadDecision(r); break;
                case Keys.DurationMs: duration = r.ReadInt64(); break;
                case Keys.ResourceUsage: usage = ReadUsage(r); break;
                case Keys.SchemaVersion: schema = r.ReadInt32(); break;
                case Keys.Metadata: metadata = ReadMetadata(r); break;
                case Keys.Client: client = ReadClient(r); break;
                case Keys.PreviousHash: prev = Convert.ToHexStringLower(r.ReadByteString()); break;
                case Keys.EntryHash: hash = Convert.ToHexStringLower(r.ReadByteString()); break;
                case Keys.Node: node = ReadNullableText(r); break;
                default: r.SkipValue(); break;
            }
        }
        r.ReadEndMap();
        return new AuditEntry
        {
            Id = id,
            Timestamp = ts,
            Kind = kind,
            Actor = actor ?? throw new FormatException("record lacks actor"),
            SessionId = session,
            Capability = capability ?? throw new FormatException("record lacks capability"),
            Inputs = inputs,
            OutputSummary = summary ?? "",
            Status = status,
            PolicyDecision = decision,
            DurationMs = duration,
            ResourceUsage = usage,
            SchemaVersion = schema,
            Metadata = metadata,
            Client = client,
            Node = node,
            PreviousHash = prev,
            EntryHash = hash,
        };
    }

    // ---------------------------------------------------------------- writing

    private static void WriteMap(CborWriter w, AuditEntry e, byte[]? prev, byte[]? hash)
    {
        // The writer sorts keys itself (canonical mode); the order here is for reading only.
        w.WriteStartMap((prev is null ? 15 : 17) + (e.Node is null ? 0 : 1));
        w.WriteTextString(Keys.Id); w.WriteTextString(e.Id.ToString("D"));
        w.WriteTextString(Keys.Kind); w.WriteTextString(e.Kind.ToWire());
        w.WriteTextString(Keys.Timestamp); w.WriteTextString(AuditTime.ToText(e.Timestamp));
        w.WriteTextString(Keys.Actor);
        w.WriteStartMap(2);
        w.WriteTextString("type"); w.WriteTextString(e.Actor.Kind == PrincipalKind.Agent ? "agent" : "user");
        w.WriteTextString("name"); w.WriteTextString(e.Actor.Name);
        w.WriteEndMap();
        w.WriteTextString(Keys.SessionId); WriteNullableText(w, e.SessionId);
        w.WriteTextString(Keys.Capability); w.WriteTextString(e.Capability);
        w.WriteTextString(Keys.Inputs); WriteJson(w, e.Inputs);
        w.WriteTextString(Keys.OutputSummary); w.WriteTextString(e.OutputSummary);
        w.WriteTextString(Keys.Status); w.WriteTextString(e.Status.ToWire());
        w.WriteTextString(Keys.PolicyDecision);
        if (e.PolicyDecision is { } d)
        {
            w.WriteStartMap(4);
            w.WriteTextString("tier"); w.WriteTextString(d.Tier.ToWire());
            w.WriteTextString("rule"); WriteNullableText(w, d.Rule);
            w.WriteTextString("revision");
            if (d.Revision is { } rev) w.WriteInt64(rev); else w.WriteNull();
            w.WriteTextString("reason"); WriteNullableText(w, d.Reason);
            w.WriteEndMap();
        }
        else w.WriteNull();
        w.WriteTextString(Keys.DurationMs); w.WriteInt64(Math.Max(0, e.DurationMs));
        w.WriteTextString(Keys.ResourceUsage);
        if (e.ResourceUsage is { } u)
        {
            // Every key is present; a figure that was not measured is null (docs/audit-format.md §3.1).
            w.WriteStartMap(4);
            w.WriteTextString("cpu_time_ms"); WriteNullableCount(w, u.CpuTimeMs);
            w.WriteTextString("memory_peak_bytes"); WriteNullableCount(w, u.MemoryPeakBytes);
            w.WriteTextString("io_read_bytes"); WriteNullableCount(w, u.IoReadBytes);
            w.WriteTextString("io_write_bytes"); WriteNullableCount(w, u.IoWriteBytes);
            w.WriteEndMap();
        }
        else w.WriteNull();
        // An entry naming its node is schema 2 whatever the draft said, so a reader never meets a node under schema 1.
        w.WriteTextString(Keys.SchemaVersion); w.WriteInt32(e.Node is null ? e.SchemaVersion : Math.Max(e.SchemaVersion, AuditEntry.NodeSchemaVersion));
        if (e.Node is { } node) { w.WriteTextString(Keys.Node); w.WriteTextString(node); }
        w.WriteTextString(Keys.Metadata);
        w.WriteStartMap(5);
        w.WriteTextString("approval_request_id"); WriteNullableText(w, e.Metadata.ApprovalRequestId);
        w.WriteTextString("approval_decision"); WriteNullableText(w, e.Metadata.ApprovalDecision);
        w.WriteTextString("decided_by"); WriteNullableText(w, e.Metadata.DecidedBy);
        w.WriteTextString("error_type"); WriteNullableText(w, e.Metadata.ErrorType);
        w.WriteTextString("details");
        if (e.Metadata.Details is { } details) WriteJson(w, details); else w.WriteNull();
        w.WriteEndMap();
        w.WriteTextString(Keys.Client);
        if (e.Client is { } c)
        {
            w.WriteStartMap(2);
            w.WriteTextString("name"); w.WriteTextString(c.Name);
            w.WriteTextString("version"); WriteNullableText(w, c.Version);
            w.WriteEndMap();
        }
        else w.WriteNull();
        if (prev is not null)
        {
            w.WriteTextString(Keys.PreviousHash); w.WriteByteString(prev);
            w.WriteTextString(Keys.EntryHash); w.WriteByteString(hash!);
        }
        w.WriteEndMap();
    }

    private static void WriteNullableText(CborWriter w, string? s)
    {
        if (s is null) w.WriteNull(); else w.WriteTextString(s);
    }

    /// <summary>
    /// JSON → CBOR: objects → maps (text keys; a repeated name keeps its last value), arrays → arrays,
    /// strings → text strings (UTF-8 as given, no Unicode normalization), <c>true</c>/<c>false</c>/<c>null</c>
    /// → simple values, numbers written as integers (no fraction or exponent) that fit in 64 bits → CBOR
    /// integers, every other number → the nearest IEEE-754 double, written as a float64 (major type 7,
    /// additional info 27) regardless of its value.
    /// <para>Total, so the writer never fails on a value an entry was not prepared for (<see cref="AuditChain.Prepare"/>
    /// applies the limits first and this changes nothing of what it produces): a lone surrogate becomes U+FFFD (and
    /// names that become equal keep the last value), a number whose nearest double is infinite is written as the text
    /// of the number, and a subtree nested deeper than <see cref="MaxJsonDepth"/> levels as a text giving its size.</para>
    /// </summary>
    public static void WriteJson(CborWriter w, JsonElement e) => WriteJson(w, e, 1);

    /// <summary>Deepest nesting <see cref="WriteJson(CborWriter, JsonElement)"/> writes (a strict reader accepts 64 levels in a whole record).</summary>
    public const int MaxJsonDepth = 48;

    private static void WriteJson(CborWriter w, JsonElement e, int depth)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object when depth > MaxJsonDepth:
            case JsonValueKind.Array when depth > MaxJsonDepth:
                w.WriteTextString($"[elided: nested deeper than {MaxJsonDepth} levels, {System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(e).Length} bytes]");
                break;
            case JsonValueKind.Object:
                var props = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
                foreach (var p in e.EnumerateObject()) props[AuditText.ReadName(p)] = p.Value;
                w.WriteStartMap(props.Count);
                foreach (var (name, value) in props)
                {
                    w.WriteTextString(name);
                    WriteJson(w, value, depth + 1);
                }
                w.WriteEndMap();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray(e.GetArrayLength());
                foreach (var item in e.EnumerateArray()) WriteJson(w, item, depth + 1);
                w.WriteEndArray();
                break;
            case JsonValueKind.String: w.WriteTextString(AuditText.ReadString(e)); break;
            case JsonValueKind.True: w.WriteBoolean(true); break;
            case JsonValueKind.False: w.WriteBoolean(false); break;
            case JsonValueKind.Null: w.WriteNull(); break;
            case JsonValueKind.Number:
                var raw = System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(e);
                var integral = raw.IndexOfAny((byte)'.', (byte)'e', (byte)'E') < 0;
                if (integral && e.TryGetInt64(out var l)) w.WriteInt64(l);
                else if (integral && e.TryGetUInt64(out var ul)) w.WriteUInt64(ul);
                else if (e.TryGetDouble(out var d) && double.IsFinite(d)) WriteFloat64(w, d);
                else w.WriteTextString(Encoding.UTF8.GetString(raw));
                break;
            default: w.WriteNull(); break;
        }
    }

    /// <summary>The canonical CBOR of a JSON value alone, as <see cref="WriteJson(CborWriter, JsonElement)"/> writes it.</summary>
    public static byte[] EncodeJson(JsonElement e)
    {
        var w = new CborWriter(Mode);
        WriteJson(w, e);
        return w.Encode();
    }

    // Always eight bytes: the canonical writer would otherwise shorten floats, and a fixed width is
    // simpler for third-party encoders to reproduce.
    private static void WriteFloat64(CborWriter w, double d)
    {
        Span<byte> buf = stackalloc byte[9];
        buf[0] = 0xfb;
        System.Buffers.Binary.BinaryPrimitives.WriteDoubleBigEndian(buf[1..], d);
        w.WriteEncodedValue(buf);
    }

    // ---------------------------------------------------------------- reading

    private static string? ReadNullableText(CborReader r)
    {
        if (r.PeekState() == CborReaderState.Null) { r.ReadNull(); return null; }
        return r.ReadTextString();
    }

    private static void WriteNullableCount(CborWriter w, long? value)
    {
        if (value is { } v) w.WriteInt64(Math.Max(0, v)); else w.WriteNull();
    }

    private static long? ReadNullableInt(CborReader r)
    {
        if (r.PeekState() == CborReaderState.Null) { r.ReadNull(); return null; }
        return r.ReadInt64();
    }

    private static bool TryReadNull(CborReader r)
    {
        if (r.PeekState() != CborReaderState.Null) return false;
        r.ReadNull();
        return true;
    }

    private static Principal ReadActor(CborReader r)
    {
        string? type = null, name = null;
        var n = r.ReadStartMap();
        for (var i = 0; i < n; i++)
        {
            switch (r.ReadTextString())
            {
                case "type": type = r.ReadTextString(); break;
                case "name": name = r.ReadTextString(); break;
                default: r.SkipValue(); break;
            }
        }
        r.ReadEndMap();
        return new Principal(type == "agent" ? PrincipalKind.Agent : PrincipalKind.User, name ?? "");
    }

    private static AuditPolicyDecision? ReadDecision(CborReader r)
    {
        if (TryReadNull(r)) return null;
        var tier = Tier.Autonomous;
        string? rule = null, reason = null;
        long? revision = null;
        var n = r.ReadStartMap();
        for (var i = 0; i < n; i++)
        {
            switch (r.ReadTextString())
            {
                case "tier": Tiers.TryParse(r.ReadTextString(), out tier); break;
                case "rule": rule = ReadNullableText(r); break;
                case "revision": revision = ReadNullableInt(r); break;
                case "reason": reason = ReadNullableText(r); break;
                default: r.SkipValue(); break;
            }
        }
        r.ReadEndMap();
        return new AuditPolicyDecision(tier, rule, revision, reason);
    }

    private static AuditResourceUsage? ReadUsage(CborReader r)
    {
        if (TryReadNull(r)) return null;
        long? cpu = null, mem = null, rd = null, wr = null;
        var n = r.ReadStartMap();
        for (var i = 0; i < n; i++)
        {
            switch (r.ReadTextString())
            {
                case "cpu_time_ms": cpu = ReadNullableInt(r); break;
                case "memory_peak_bytes": mem = ReadNullableInt(r); break;
                case "io_read_bytes": rd = ReadNullableInt(r); break;
                case "io_write_bytes": wr = ReadNullableInt(r); break;
                default: r.SkipValue(); break;
            }
        }
        r.ReadEndMap();
        return new AuditResourceUsage(cpu, mem, rd, wr);
    }

    private static AuditClient? ReadClient(CborReader r)
    {
        if (TryReadNull(r)) return null;
        string? name = null, version = null;
        var n = r.ReadStartMap();
        for (var i = 0; i < n; i++)
        {
            switch (r.ReadTextString())
            {
                case "name": name = r.ReadTextString(); break;
                case "version": version = ReadNullableText(r); break;
                default: r.SkipValue(); break;
            }
        }
        r.ReadEndMap();
        return new AuditClient(name ?? "", version);
    }

    private static AuditMetadata ReadMetadata(CborReader r)
    {
        if (TryReadNull(r)) return AuditMetadata.Empty;
        string? approval = null, decision = null, decidedBy = null, errorType = null;
        JsonElement? details = null;
        var n = r.ReadStartMap();
        for (var i = 0; i < n; i++)
        {
            switch (r.ReadTextString())
            {
                case "approval_request_id": approval = ReadNullableText(r); break;
                case "approval_decision": decision = ReadNullableText(r); break;
                case "decided_by": decidedBy = ReadNullableText(r); break;
                case "error_type": errorType = ReadNullableText(r); break;
                case "details": details = TryReadNull(r) ? null : ReadJson(r); break;
                default: r.SkipValue(); break;
            }
        }
        r.ReadEndMap();
        return new AuditMetadata(approval, decision, decidedBy, errorType, details);
    }

    /// <summary>CBOR → JSON for display (byte strings become base64 strings).</summary>
    public static JsonElement ReadJson(CborReader r)
    {
        var buffer = new ArrayBufferWriter<byte>(128);
        using (var w = new Utf8JsonWriter(buffer))
        {
            CopyToJson(r, w, 0);
        }
        using var doc = JsonDocument.Parse(buffer.WrittenMemory, new JsonDocumentOptions { MaxDepth = MaxReadJsonDepth + 1 });
        return doc.RootElement.Clone();
    }

    /// <summary>
    /// Deepest nesting of a JSON value read back from a record (inputs, details). The writer never stores deeper ones (call
    /// arguments are limited to 64 levels); a record that holds one was not written by the gateway and is reported as
    /// unreadable (<see cref="FormatException"/>, like any malformed record) instead of exhausting the reader.
    /// </summary>
    public const int MaxReadJsonDepth = 64;

    private static void CopyToJson(CborReader r, Utf8JsonWriter w, int depth)
    {
        var state = r.PeekState();
        if (state is CborReaderState.StartMap or CborReaderState.StartArray && depth >= MaxReadJsonDepth)
            throw new FormatException($"a JSON value in the record is nested deeper than {MaxReadJsonDepth} levels");
        switch (state)
        {
            case CborReaderState.StartMap:
                var n = r.ReadStartMap();
                w.WriteStartObject();
                for (var i = 0; i < n; i++)
                {
                    w.WritePropertyName(r.PeekState() == CborReaderState.TextString ? r.ReadTextString() : r.ReadInt64().ToString(System.Globalization.CultureInfo.InvariantCulture));
                    CopyToJson(r, w, depth + 1);
                }
                r.ReadEndMap();
                w.WriteEndObject();
                break;
            case CborReaderState.StartArray:
                var m = r.ReadStartArray();
                w.WriteStartArray();
                for (var i = 0; i < m; i++) CopyToJson(r, w, depth + 1);
                r.ReadEndArray();
                w.WriteEndArray();
                break;
            case CborReaderState.TextString: w.WriteStringValue(r.ReadTextString()); break;
            case CborReaderState.ByteString: w.WriteBase64StringValue(r.ReadByteString()); break;
            case CborReaderState.UnsignedInteger: w.WriteNumberValue(r.ReadUInt64()); break;
            case CborReaderState.NegativeInteger: w.WriteNumberValue(r.ReadInt64()); break;
            case CborReaderState.Boolean: w.WriteBooleanValue(r.ReadBoolean()); break;
            case CborReaderState.Null: r.ReadNull(); w.WriteNullValue(); break;
            case CborReaderState.HalfPrecisionFloat or CborReaderState.SinglePrecisionFloat or CborReaderState.DoublePrecisionFloat:
                var d = r.ReadDouble();
                if (double.IsFinite(d)) w.WriteNumberValue(d); else w.WriteNullValue();
                break;
            default: r.SkipValue(); w.WriteNullValue(); break;
        }
    }
}

/// <summary>A stored record split into its hashed body and its two hashes.</summary>
public sealed record StoredParts(ReadOnlyMemory<byte> Body, ReadOnlyMemory<byte> PreviousHash, ReadOnlyMemory<byte> EntryHash);
