using Xunit;
using System.Text;
using KruxOS.Proxy.Gmail;
using KruxOS.Testing.Fakes;

namespace KruxOS.Gateway.Tests.Gmail;

/// <summary>
/// Adversarial: everything in an <c>email.send</c> is the agent's, and none of it may become a header of its own — no
/// hidden Bcc, no second Message-ID (which would break the exactly-once lookup), no header block ended early.
/// </summary>
public sealed class MailComposerSpecs
{
    private const string Marker = "<kxw-0123-abcd@kruxos.invalid>";
    private static readonly DateTimeOffset At = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static OutgoingMail Mail(string to = "bob@example.com", string subject = "Hello", string body = "Hi", string from = "me", string? cc = null, string? bcc = null) =>
        new(to, subject, body, from, cc, bcc);

    [Theory]
    [InlineData("subject", "Hi\r\nBcc: spy@evil.example")]
    [InlineData("subject", "Hi\nMessage-ID: <other@evil.example>")]
    [InlineData("subject", "Hi\rX-Header: 1")]
    [InlineData("subject", "Hi\u2028Bcc: spy@evil.example")]
    [InlineData("subject", "nul\0byte")]
    [InlineData("to", "bob@example.com\r\nBcc: spy@evil.example")]
    [InlineData("to", "bob@example.com\nSubject: forged")]
    [InlineData("to", "Bob <bob@example.com>, \"Eve\" <eve@example.com>")]
    [InlineData("to", "Eve <eve@example.com> <spy@evil.example>")]
    [InlineData("to", "not an address")]
    [InlineData("to", "bob@example.com,,carol@example.com")]
    [InlineData("cc", "carol@example.com\r\nBcc: spy@evil.example")]
    [InlineData("bcc", "x@y")]
    [InlineData("from", "me\r\nBcc: spy@evil.example")]
    [InlineData("from", "a@example.com, b@example.com")]
    public void Should_refuse_any_field_that_could_become_a_header(string field, string value)
    {
        var mail = field switch
        {
            "subject" => Mail(subject: value), "to" => Mail(to: value), "cc" => Mail(cc: value), "bcc" => Mail(bcc: value), _ => Mail(from: value),
        };
        var problem = MailComposer.Validate(mail);
        Assert.NotNull(problem);
        Assert.Equal(field, problem.Value.Field);
        Assert.Throws<ArgumentException>(() => MailComposer.Compose(mail, Marker, At));
    }

    [Fact]
    public void Should_keep_a_hostile_body_inside_the_body()
    {
        var body = "line\r\n\r\nBcc: spy@evil.example\r\nMessage-ID: <other@evil.example>\r\n--boundary\r\n.\r\n";
        var raw = Encoding.ASCII.GetString(MailComposer.Compose(Mail(body: body), Marker, At));

        var (headers, encoded) = FakeGoogle.ParseRfc822(raw);

        Assert.False(headers.ContainsKey("bcc"));
        Assert.Equal(Marker, headers["message-id"]);
        Assert.Single(raw.Split("\r\n").TakeWhile(l => l.Length > 0), l => l.StartsWith("Message-ID:", StringComparison.OrdinalIgnoreCase));
        Assert.Equal(body, Encoding.UTF8.GetString(Convert.FromBase64String(encoded.Replace("\r\n", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal))));
    }

    [Fact]
    public void Should_compose_addresses_names_and_a_non_ascii_subject()
    {
        var raw = Encoding.ASCII.GetString(MailComposer.Compose(
            Mail(to: "Bob Smith <bob@example.com>, carol@example.com", subject: "Grüße – Q4 report 📈", cc: "dave@example.com", bcc: "erin@example.com"), Marker, At));
        var (headers, _) = FakeGoogle.ParseRfc822(raw);

        Assert.Equal("\"Bob Smith\" <bob@example.com>, carol@example.com", headers["to"]);
        Assert.Equal("dave@example.com", headers["cc"]);
        Assert.Equal("erin@example.com", headers["bcc"]);
        Assert.StartsWith("=?UTF-8?B?", headers["subject"], StringComparison.Ordinal);
        Assert.False(headers.ContainsKey("from")); // "me": Gmail fills in the account
        Assert.All(raw.Split("\r\n"), l => Assert.True(l.Length <= 998));
        Assert.All(raw, c => Assert.True(c < 128));
    }

    [Fact]
    public void Should_bound_recipients_and_body()
    {
        var many = string.Join(", ", Enumerable.Range(0, 101).Select(i => $"u{i}@example.com"));
        Assert.NotNull(MailComposer.Validate(Mail(to: many)));
        Assert.NotNull(MailComposer.Validate(Mail(body: new string('x', MailComposer.MaxBodyBytes + 1))));
        Assert.Null(MailComposer.Validate(Mail(body: new string('x', 1000))));
    }
}
