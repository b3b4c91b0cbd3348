using System.Net;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using KruxOS.Vault.Scrubbing;
using Xunit;

namespace KruxOS.Vault.Tests;

/// <summary>
/// Scrubbing by value and by the forms that carry a value through HTTP. The property specs generate secrets from a
/// hostile alphabet, hide them in every encoding the scrubber claims, cut the text into random chunks, and check that
/// no form survives and that streaming gives exactly the one-shot result.
/// </summary>
public sealed class ScrubberSpecs
{
    private const string R = SecretScrubber.Redacted;

    private static SecretScrubber For(params string[] secrets) => SecretScrubber.ForBytes([.. secrets.Select(Encoding.UTF8.GetBytes)]);

    private static string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));

    private static string B64Url(string s) => B64(s).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    [Theory]
    [InlineData("Authorization: Bearer sk_live_0123456789abcdef", "Authorization: Bearer " + R)]
    [InlineData("sk_live_0123456789abcdefsk_live_0123456789abcdef", R + R)]
    [InlineData("no secret here", "no secret here")]
    [InlineData("", "")]
    [InlineData("https://api.example.com/v1?key=sk_live_0123456789abcdef&x=1", "https://api.example.com/v1?key=" + R + "&x=1")]
    public void Should_redact_the_value_itself(string text, string expected)
    {
        using var s = For("sk_live_0123456789abcdef");
        Assert.Equal(expected, s.Scrub(text));
    }

    public static TheoryData<string, string> Forms()
    {
        const string secret = "p@ss w/rd+key=é&😀";
        var bytes = Encoding.UTF8.GetBytes(secret);
        var lowerPct = string.Concat(bytes.Select(b => "%" + b.ToString("x2")));
        var mixed = string.Concat(bytes.Select((b, i) => b < 0x80 && char.IsAsciiLetterOrDigit((char)b) && i % 2 == 0 ? ((char)b).ToString() : "%" + b.ToString("X2")));
        var jsonAll = string.Concat(secret.Select(c => $"\\u{(int)c:x4}"));
        return new()
        {
            { "raw", secret },
            { "percent, upper case (EscapeDataString)", Uri.EscapeDataString(secret) },
            { "percent, lower case", lowerPct },
            { "percent, partly", mixed },
            { "percent, twice", Uri.EscapeDataString(Uri.EscapeDataString(secret)) },
            { "form encoding (+ for space)", WebUtility.UrlEncode(secret) },
            { "JSON, default encoder", JsonSerializer.Serialize(secret)[1..^1] },
            { "JSON, relaxed encoder", JsonSerializer.Serialize(secret, new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping })[1..^1] },
            { "JSON, every character escaped", jsonAll },
            { "JSON in a JSON string", JsonSerializer.Serialize(JsonSerializer.Serialize(secret))[1..^1] },
            { "base64", B64(secret) },
            { "base64 of user:secret (Basic auth)", B64("user:" + secret) },
            { "base64 of a longer prefix", B64("admin-account:" + secret) },
            { "base64 with a suffix", B64("x" + secret + ":tail") },
            { "base64url", B64Url("ab" + secret) },
            { "base64 in JSON (+ as \\u002B)", JsonSerializer.Serialize(B64("user:" + secret))[1..^1] },
            { "base64 percent-encoded", Uri.EscapeDataString(B64("user:" + secret)) },
        };
    }

    [Theory]
    [MemberData(nameof(Forms))]
    public void Should_redact_every_form_that_carries_the_value(string form, string encoded)
    {
        using var s = For("p@ss w/rd+key=é&😀");
        var text = $"before {{\"echo\":\"{encoded}\"}} after";
        var scrubbed = s.Scrub(text);
        Assert.DoesNotContain(encoded, scrubbed, StringComparison.Ordinal);
        Assert.Contains(R, scrubbed, StringComparison.Ordinal);
        Assert.StartsWith("before {\"echo\":\"", scrubbed, StringComparison.Ordinal);
        Assert.EndsWith("\"} after", scrubbed, StringComparison.Ordinal);
        _ = form;
    }

    [Fact]
    public void Should_redact_a_basic_auth_header_echoed_back()
    {
        using var s = For("hunter2hunter2");
        var echoed = "{\"headers\":{\"Authorization\":\"Basic " + B64("admin:hunter2hunter2") + "\"}}";
        var scrubbed = s.Scrub(echoed);
        Assert.DoesNotContain(B64("admin:hunter2hunter2"), scrubbed, StringComparison.Ordinal);
        // What is left of the base64 carries only bits of "admin:", none of the value.
        var left = scrubbed[(scrubbed.IndexOf("Basic ", StringComparison.Ordinal) + 6)..scrubbed.IndexOf(R, StringComparison.Ordinal)];
        Assert.True(B64("admin:").StartsWith(left, StringComparison.Ordinal), left);
    }

    [Fact]
    public void Should_redact_overlapping_occurrences_as_one()
    {
        using var s = For("abcabcab");
        Assert.Equal("x" + R + "y", s.Scrub("xabcabcabcabyy")[..^1]);
    }

    [Fact]
    public void Should_scrub_several_secrets_at_once_and_print_only_a_count()
    {
        using var s = For("first-secret-1", "second-secret-2");
        Assert.Equal($"{R} and {R}", s.Scrub("first-secret-1 and second-secret-2"));
        Assert.Equal("SecretScrubber(2 secrets)", s.ToString());
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(s));
        s.Dispose();
        Assert.Throws<ObjectDisposedException>(() => s.Scrub("first-secret-1"));
    }

    [Fact]
    public void Should_build_from_opened_secret_values()
    {
        var bytes = new SecretBytes(16);
        "opened-secret-01"u8.CopyTo(bytes.Span);
        using var value = new SecretValue(bytes);
        using var s = SecretScrubber.For(value);
        Assert.Equal($"x{R}y", s.Scrub("xopened-secret-01y"));
    }

    [Fact]
    public void Should_give_the_same_result_for_a_body_streamed_one_character_at_a_time()
    {
        using var s = For("p@ss w/rd+key=é&😀");
        var body = string.Concat(Forms().Select(row => row.Data.Item2 + " | filler %41 \\u0041 +/= | "));
        var whole = s.Scrub(body);
        Assert.Equal(whole, Stream(s, body, Enumerable.Repeat(1, body.Length)));
    }

    // Property: for random secrets from a hostile alphabet, hidden in random forms in random filler and fed in random
    // chunks, no form survives and the streamed output equals the one-shot output.
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    public void Should_redact_random_secrets_in_random_forms_across_random_chunks(int seed)
    {
        var random = new Random(seed);
        for (var round = 0; round < 25; round++)
        {
            var secret = RandomSecret(random);
            using var s = For(secret);
            var parts = new List<string>();
            var inserted = new List<string>();
            for (var k = 0; k < 6; k++)
            {
                // An encoder never leaves an escape introducer dangling before what it encodes ("%c" before "6%C3",
                // a lone "\" before "\u0027"): such text has no single decoding, so the filler ends on a space.
                parts.Add(Filler(random, random.Next(0, 400)) + " ");
                var encoded = Encode(secret, random);
                inserted.Add(encoded);
                parts.Add(encoded);
            }
            parts.Add(Filler(random, random.Next(0, 50)));
            var text = string.Concat(parts);

            var whole = s.Scrub(text);
            foreach (var e in inserted) Assert.DoesNotContain(e, whole, StringComparison.Ordinal);
            Assert.DoesNotContain(secret, whole, StringComparison.Ordinal);

            var chunks = new List<int>();
            for (var left = text.Length; left > 0;)
            {
                var n = Math.Min(left, random.Next(1, random.Next(2) == 0 ? 8 : 5000));
                chunks.Add(n);
                left -= n;
            }
            Assert.Equal(whole, Stream(s, text, chunks));
        }
    }

    [Fact]
    public void Should_leave_text_without_the_secret_unchanged()
    {
        var random = new Random(42);
        using var s = For("Zq9-unlikely-Secret-Value");
        for (var i = 0; i < 50; i++)
        {
            var text = Filler(random, 2000);
            Assert.Equal(text, s.Scrub(text));
        }
    }

    [Fact]
    public void Should_hold_back_only_a_bounded_tail_of_a_long_stream()
    {
        using var s = For("sk_live_0123456789abcdef");
        var stream = s.Start();
        var output = new StringBuilder();
        var chunk = new string('x', 10_000);
        for (var i = 0; i < 200; i++) stream.Append(chunk, output);
        Assert.True(stream.Pending < s.HoldBack + 16 * 1024 + chunk.Length, $"pending {stream.Pending}");
        stream.Complete(output);
        Assert.Equal(2_000_000, output.Length);
    }

    [Fact]
    public void Should_cut_streams_outside_escape_sequences_even_when_they_are_dense()
    {
        using var s = For("needle+/ value");
        var encoded = Uri.EscapeDataString("needle+/ value");
        var body = string.Concat(Enumerable.Repeat("%20%41\\u0042\\\\", 3000)) + encoded + string.Concat(Enumerable.Repeat("%2B", 5000));
        var whole = s.Scrub(body);
        Assert.DoesNotContain(encoded, whole, StringComparison.Ordinal);
        var random = new Random(7);
        var chunks = new List<int>();
        for (var left = body.Length; left > 0;) { var n = Math.Min(left, random.Next(1, 3000)); chunks.Add(n); left -= n; }
        Assert.Equal(whole, Stream(s, body, chunks));
    }

    // The first batch of a stream is cut at StreamingScrub.MinBatch (its length minus the hold-back). These put an
    // occurrence across the end of that batch, and an escaped backslash across the cut, so that a stream that wrote
    // its whole batch, or cut inside an escape, would differ from the one-shot result. Seen failing with the hold-back
    // removed (cut = length) and with the escape check removed from StreamingScrub.Cut.
    [Fact]
    public void Should_hold_back_an_occurrence_that_runs_past_the_end_of_a_batch()
    {
        const string secret = "sk_live_0123456789abcdef";
        using var s = For(secret);
        var batch = s.HoldBack + StreamingScrub.MinBatch;
        var text = new string('x', batch - 5) + secret + new string('y', 100);
        var whole = s.Scrub(text);
        Assert.Equal(whole, Stream(s, text, [batch, text.Length - batch]));
        Assert.DoesNotContain("sk_li", Stream(s, text, [batch, text.Length - batch]), StringComparison.Ordinal);
    }

    [Fact]
    public void Should_not_cut_a_stream_inside_an_escape_sequence()
    {
        const string secret = "sk_live_0123456789abcdef";
        using var s = For(secret);
        var batch = s.HoldBack + StreamingScrub.MinBatch;
        // An escaped backslash (\\) whose halves sit on either side of the cut, then the value with its first
        // character JSON-escaped: decoded from the start it is "\" followed by the value.
        var text = new string('x', StreamingScrub.MinBatch - 1) + "\\\\" + "\\u0073" + secret[1..];
        text += new string('y', batch + 100 - text.Length);
        var whole = s.Scrub(text);
        Assert.DoesNotContain("k_live_0123456789abcdef", whole, StringComparison.Ordinal);
        Assert.Equal(whole, Stream(s, text, [batch, text.Length - batch]));
    }

    [Fact]
    public void Should_redact_dense_occurrences_wherever_a_long_stream_is_cut()
    {
        const string secret = "sk_live_0123456789abcdef";
        using var s = For(secret);
        var body = string.Concat(Enumerable.Range(0, 6000).Select(i =>
            $"{i % 10}{secret}" + (i % 3 == 0 ? Uri.EscapeDataString("a b" + secret) : "") + (i % 5 == 0 ? B64("u:" + secret) : "")));
        var whole = s.Scrub(body);
        Assert.DoesNotContain("sk_live", whole, StringComparison.Ordinal);
        foreach (var size in new[] { 1, 7, 999, 4096, 65_536 })
        {
            var chunks = Enumerable.Repeat(size, body.Length / size).Append(body.Length % size).Where(n => n > 0);
            Assert.Equal(whole, Stream(s, body, chunks));
        }
    }

    private static string Stream(SecretScrubber s, string text, IEnumerable<int> chunks)
    {
        using var stream = s.Start();
        var output = new StringBuilder();
        var at = 0;
        foreach (var n in chunks)
        {
            stream.Append(text.AsSpan(at, n), output);
            at += n;
        }
        Assert.Equal(text.Length, at);
        stream.Complete(output);
        return output.ToString();
    }

    private const string Hostile = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~+/=:@!$&'()*,;%?#[] \"\\<>";
    private static readonly string[] Unicode = ["é", "ü", "ß", "€", "中", "😀", "🔑"];

    private static string RandomSecret(Random random)
    {
        var sb = new StringBuilder();
        var length = random.Next(8, 48);
        while (sb.Length < length)
            sb.Append(random.Next(10) == 0 ? Unicode[random.Next(Unicode.Length)] : Hostile[random.Next(Hostile.Length)].ToString());
        return sb.ToString();
    }

    // Filler looks like what responses contain: words, JSON punctuation, escapes, percent signs, base64-ish runs.
    private static string Filler(Random random, int length)
    {
        const string chars = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789{}[]\":,.%\\+/=\n";
        var sb = new StringBuilder(length);
        for (var i = 0; i < length; i++) sb.Append(chars[random.Next(chars.Length)]);
        return sb.ToString();
    }

    private static string Encode(string secret, Random random)
    {
        var prefix = new string('u', random.Next(0, 6)) + ":";
        return random.Next(14) switch
        {
            0 => secret,
            1 => Uri.EscapeDataString(secret),
            2 => System.Text.RegularExpressions.Regex.Replace(Uri.EscapeDataString(secret), "%[0-9A-F]{2}", m => m.Value.ToLowerInvariant()),
            3 => WebUtility.UrlEncode(secret),
            4 => Uri.EscapeDataString(Uri.EscapeDataString(secret)),
            5 => JsonSerializer.Serialize(secret)[1..^1],
            6 => JsonSerializer.Serialize(secret, new JsonSerializerOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping })[1..^1],
            7 => B64(secret),
            8 => B64(prefix + secret),
            9 => B64Url(prefix + secret + "tail"),
            10 => JsonSerializer.Serialize(B64(prefix + secret))[1..^1],
            13 => JsonSerializer.Serialize(JsonSerializer.Serialize(secret))[1..^1],
            11 => Uri.EscapeDataString(B64(prefix + secret)),
            _ => string.Concat(Encoding.UTF8.GetBytes(secret).Select(b => b < 0x80 && char.IsAsciiLetterOrDigit((char)b) && random.Next(2) == 0 ? ((char)b).ToString() : "%" + b.ToString(random.Next(2) == 0 ? "X2" : "x2"))),
        };
    }
}
