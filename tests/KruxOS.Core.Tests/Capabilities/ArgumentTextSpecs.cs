using System.Text;
using System.Text.Json;
using KruxOS.Core.Approvals;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Xunit;

namespace KruxOS.Core.Tests.Capabilities;

/// <summary>
/// Text that is not text in a call's arguments: escaped lone surrogates and raw bytes that are not UTF-8 parse as JSON,
/// and throw wherever they are decoded. They are found before anything decodes them, refused as InvalidInput naming the
/// field, and every later stage (hashing, audit) can still handle the repaired form.
/// </summary>
public sealed class ArgumentTextSpecs
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    private static JsonElement Bytes(params byte[][] parts) => JsonDocument.Parse(parts.SelectMany(p => p).ToArray()).RootElement.Clone();

    private static byte[] U(string s) => Encoding.UTF8.GetBytes(s);

    [Theory]
    [InlineData("""{"path":"a\ud800"}""", "path")]
    [InlineData("""{"path":"\udc00b"}""", "path")]
    [InlineData("""{"path":"\udc00\ud800"}""", "path")] // a pair in the wrong order
    [InlineData("""{"path":"\ud800\n"}""", "path")]
    [InlineData("""{"args":["ok","x\ud83d"]}""", "args[1]")]
    [InlineData("""{"environment":{"HOME":"\udfff"}}""", "environment.HOME")]
    [InlineData("""{"a\ud800":1}""", "arguments")]
    public void Should_name_the_field_of_an_unpaired_surrogate(string json, string field)
    {
        var found = ArgumentText.Find(Json(json));
        Assert.NotNull(found);
        Assert.Equal(field, found.Field);
    }

    [Fact]
    public void Should_name_the_field_of_bytes_that_are_not_utf8()
    {
        var found = ArgumentText.Find(Bytes(U("{\"content\":\"ab"), [0xC3, 0x28], U("\"}")));
        Assert.Equal(new MalformedText("content", "is not valid UTF-8"), found);
        // an encoded surrogate (CESU-8) is not UTF-8 either
        Assert.NotNull(ArgumentText.Find(Bytes(U("{\"c\":\""), [0xED, 0xA0, 0x80], U("\"}"))));
    }

    [Theory]
    [InlineData("""{"path":"\ud83d\ude00 emoji","n":1,"b":true,"x":null}""")]
    [InlineData("""{"text":"tab\t and \\ud800 as plain text and \u00e9"}""")]
    [InlineData("""{"list":[{"deep":["\u0041"]}]}""")]
    public void Should_accept_well_formed_text(string json) => Assert.Null(ArgumentText.Find(Json(json)));

    [Fact]
    public void Should_refuse_nesting_deeper_than_the_limit()
    {
        var deep = string.Concat(Enumerable.Repeat("[", ArgumentText.MaxDepth + 1)) + string.Concat(Enumerable.Repeat("]", ArgumentText.MaxDepth + 1));
        var doc = JsonDocument.Parse("{\"a\":" + deep + "}", new JsonDocumentOptions { MaxDepth = 200 });
        Assert.Contains("nested deeper", ArgumentText.Find(doc.RootElement)!.Reason);
    }

    [Fact]
    public void Should_refuse_malformed_text_in_validation_before_decoding_anything()
    {
        // arrange: a property name that is not text would throw in the unknown-field check, a value in the type check
        var cap = ToolNameSpecs.Definition("test.cap", Tier.Autonomous, new InputDefinition("path", InputType.FilesystemPath, true, ""));
        // act
        var okName = ArgumentValidator.TryValidate(cap, Json("""{"\ud800":"x"}"""), out _, out var nameError);
        var okValue = ArgumentValidator.TryValidate(cap, Bytes(U("{\"path\":\""), [0xFF], U("\"}")), out _, out var valueError);
        // assert
        Assert.False(okName);
        Assert.Equal(("InvalidInput", "arguments"), (nameError!.ErrorType, nameError.ContextString("field")));
        Assert.False(okValue);
        Assert.Equal(("InvalidInput", "path"), (valueError!.ErrorType, valueError.ContextString("field")));
    }

    [Fact]
    public void Should_repair_malformed_text_so_that_hashing_sanitizing_and_serializing_never_throw()
    {
        // arrange
        var args = Bytes(U("{\"a\\udc00\":\"x\\ud800y\",\"b\":[\""), [0xFF], U("\",1,{\"c\":\"ok\"}]}"));
        // act
        var repaired = ArgumentText.Repair(args);
        // assert: every string decodes, with U+FFFD where the text was broken, and the rest as it was
        Assert.Null(ArgumentText.Find(repaired));
        Assert.Equal("x\uFFFDy", repaired.GetProperty("a\uFFFD").GetString());
        Assert.Equal("\uFFFD", repaired.GetProperty("b")[0].GetString());
        Assert.Equal("ok", repaired.GetProperty("b")[2].GetProperty("c").GetString());
        Assert.NotEmpty(JsonSerializer.Serialize(repaired));
        Assert.NotEmpty(InputSanitizer.Sanitize(repaired).GetRawText());
        // the canonical hash (idempotency fingerprints, approvals) is computed on the raw arguments before any check
        Assert.StartsWith("sha256:", ApprovalArguments.Hash(args));
    }
}
