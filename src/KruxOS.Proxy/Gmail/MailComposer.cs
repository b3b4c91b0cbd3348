using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace KruxOS.Proxy.Gmail;

/// <summary>An outgoing message as the agent described it (validated by <see cref="MailComposer.Validate"/>).</summary>
public sealed record OutgoingMail(string To, string Subject, string Body, string From, string? Cc, string? Bcc);

/// <summary>
/// Builds the RFC 5322 text for <c>messages.send</c> and <c>drafts.create</c>. Every header value comes from the agent, so
/// nothing it writes may become a header of its own: addresses must parse as plain addresses, no value may contain a
/// line break or other control character, the subject is RFC 2047-encoded when not printable ASCII, and the body is
/// base64 (its lines can never end the header block or look like a MIME boundary). The <c>Message-ID</c> is always the
/// write's idempotency marker, never anything the agent gave.
/// </summary>
public static partial class MailComposer
{
    /// <summary>Most recipients over to, cc and bcc.</summary>
    public const int MaxRecipients = 100;

    /// <summary>Longest subject.</summary>
    public const int MaxSubject = 998;

    /// <summary>Largest body (UTF-8 bytes).</summary>
    public const int MaxBodyBytes = 5 * 1024 * 1024;

    /// <summary>The domain of our Message-IDs (reserved, never resolvable).</summary>
    public const string MessageIdDomain = "kruxos.invalid";

    /// <summary>The Message-ID header value for a marker: <c>&lt;marker@kruxos.invalid&gt;</c>.</summary>
    public static string MessageIdFor(string marker) => "<" + marker + "@" + MessageIdDomain + ">";

    /// <summary>Checks an outgoing message; null when sound, else (field, reason) for <c>InvalidInput</c>.</summary>
    public static (string Field, string Reason)? Validate(OutgoingMail mail)
    {
        var total = 0;
        foreach (var (field, value, required) in new[] { ("to", mail.To, true), ("cc", mail.Cc, false), ("bcc", mail.Bcc, false) })
        {
            if (string.IsNullOrWhiteSpace(value))
            {
                if (required) return (field, "at least one address is required");
                continue;
            }
            var addresses = SplitAddresses(value);
            if (addresses is null) return (field, "must be a comma-separated list of addresses (name@example.com or Name <name@example.com>)");
            total += addresses.Count;
        }
        if (total > MaxRecipients) return ("to", $"at most {MaxRecipients} recipients in all");
        if (mail.From != "me" && (SplitAddresses(mail.From) is not { Count: 1 })) return ("from", "must be \"me\" or one address");
        if (mail.Subject.Length > MaxSubject || HasControl(mail.Subject, allowTab: true)) return ("subject", $"at most {MaxSubject} characters, no line breaks or control characters");
        if (Encoding.UTF8.GetByteCount(mail.Body) > MaxBodyBytes) return ("body", $"at most {MaxBodyBytes} bytes");
        return null;
    }

    /// <summary>The RFC 5322 message (CRLF line ends). <paramref name="mail"/> must have passed <see cref="Validate"/>.</summary>
    public static byte[] Compose(OutgoingMail mail, string messageId, DateTimeOffset date)
    {
        if (Validate(mail) is { } problem) throw new ArgumentException($"{problem.Field}: {problem.Reason}", nameof(mail));
        if (HasControl(messageId, allowTab: false) || !messageId.StartsWith('<') || !messageId.EndsWith('>')) throw new ArgumentException("bad Message-ID", nameof(messageId));
        var sb = new StringBuilder();
        void Header(string name, string value) => sb.Append(name).Append(": ").Append(value).Append("\r\n");
        if (mail.From != "me") Header("From", string.Join(", ", SplitAddresses(mail.From)!));
        Header("To", string.Join(", ", SplitAddresses(mail.To)!));
        if (!string.IsNullOrWhiteSpace(mail.Cc)) Header("Cc", string.Join(", ", SplitAddresses(mail.Cc)!));
        if (!string.IsNullOrWhiteSpace(mail.Bcc)) Header("Bcc", string.Join(", ", SplitAddresses(mail.Bcc)!));
        Header("Subject", EncodeWord(mail.Subject));
        Header("Date", date.ToUniversalTime().ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture));
        Header("Message-ID", messageId);
        Header("MIME-Version", "1.0");
        Header("Content-Type", "text/plain; charset=UTF-8");
        Header("Content-Transfer-Encoding", "base64");
        sb.Append("\r\n");
        var b64 = Convert.ToBase64String(Encoding.UTF8.GetBytes(mail.Body));
        for (var i = 0; i < b64.Length; i += 76) sb.Append(b64, i, Math.Min(76, b64.Length - i)).Append("\r\n");
        return Encoding.ASCII.GetBytes(sb.ToString());
    }

    /// <summary>
    /// Parses a comma-separated address list into normalised addresses (<c>a@b</c> or <c>"Name" &lt;a@b&gt;</c>); null
    /// when any entry is not a plain address. Display names with quotes, angle brackets or control characters are refused.
    /// </summary>
    public static List<string>? SplitAddresses(string? value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Length > 16 * 1024 || HasControl(value, allowTab: false)) return null;
        var result = new List<string>();
        foreach (var raw in value.Split(',', StringSplitOptions.TrimEntries))
        {
            if (raw.Length == 0) return null;
            var m = Named().Match(raw);
            if (m.Success)
            {
                var name = m.Groups[1].Value.Trim();
                var addr = m.Groups[2].Value;
                if (!Address().IsMatch(addr) || name.IndexOfAny(['"', '<', '>', '\\']) >= 0) return null;
                result.Add(name.Length == 0 ? addr : "\"" + name + "\" <" + addr + ">");
                // a non-ASCII display name would need encoding; keep it simple and refuse it
                if (name.Any(c => c > 126)) return null;
            }
            else if (Address().IsMatch(raw)) result.Add(raw);
            else return null;
        }
        return result.Count > MaxRecipients ? null : result;
    }

    private static string EncodeWord(string subject)
    {
        if (subject.All(c => c is >= ' ' and <= '~')) return subject;
        // RFC 2047 B-encoding in chunks that stay under the 75-character encoded-word limit, never splitting a UTF-8 sequence
        var words = new List<string>();
        var chunk = new StringBuilder();
        foreach (var rune in subject.EnumerateRunes())
        {
            var candidate = chunk.ToString() + rune;
            if (Encoding.UTF8.GetByteCount(candidate) > 45)
            {
                words.Add("=?UTF-8?B?" + Convert.ToBase64String(Encoding.UTF8.GetBytes(chunk.ToString())) + "?=");
                chunk.Clear();
            }
            chunk.Append(rune.ToString());
        }
        if (chunk.Length > 0) words.Add("=?UTF-8?B?" + Convert.ToBase64String(Encoding.UTF8.GetBytes(chunk.ToString())) + "?=");
        return string.Join("\r\n ", words);
    }

    private static bool HasControl(string s, bool allowTab) => s.Any(c => (char.IsControl(c) && !(allowTab && c == '\t')) || c is '\u2028' or '\u2029' or '\u0085');

    [GeneratedRegex(@"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")]
    private static partial Regex Address();

    [GeneratedRegex(@"^([^<>]*)<([^<>]+)>$")]
    private static partial Regex Named();
}
