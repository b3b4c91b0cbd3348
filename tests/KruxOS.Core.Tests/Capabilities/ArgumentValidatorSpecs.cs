using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Core.Tests.Capabilities;

public sealed class ArgumentValidatorSpecs
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    private static InputDefinition Input(string name, InputType type, bool required = false, string? @default = null,
        string[]? allowed = null, double? min = null, double? max = null, long? maxLength = null) =>
        new(name, type, required, "", @default is null ? null : Json(@default), allowed is null ? default : [.. allowed], min, max, maxLength);

    private static CapabilityDefinition Cap(params InputDefinition[] inputs) => ToolNameSpecs.Definition("test.cap", Tier.Autonomous, inputs);

    [Fact]
    public void Should_fill_defaults_and_keep_declared_order_when_arguments_are_valid()
    {
        // arrange
        var cap = Cap(Input("path", InputType.FilesystemPath, required: true), Input("limit", InputType.Integer, @default: "100"));
        // act
        var ok = ArgumentValidator.TryValidate(cap, Json("""{"path":"/workspace/a.txt"}"""), out var normalized, out var error);
        // assert
        Assert.True(ok, error?.Message);
        Assert.Equal("""{"path":"/workspace/a.txt","limit":100}""", normalized.GetRawText());
    }

    [Theory]
    [InlineData("""{"limit":5}""", "path", "required field is missing")]
    [InlineData("""{"path":"/x","extra":1}""", "extra", "unknown field")]
    [InlineData("""{"path":3}""", "path", "must be a string")]
    [InlineData("""{"path":"/x","limit":1.5}""", "limit", "must be an integer")]
    [InlineData("""{"path":"/x","limit":"7"}""", "limit", "must be an integer")]
    [InlineData("""{"path":"/x","limit":0}""", "limit", "must be at least 1")]
    [InlineData("""{"path":"/x","limit":100001}""", "limit", "must be at most 100000")]
    [InlineData("""{"path":"","limit":3}""", "path", "must be a path")]
    [InlineData("""{"path":"/x\u0000y"}""", "path", "NUL")]
    public void Should_name_the_field_and_reason_when_an_argument_is_invalid(string args, string field, string reason)
    {
        var cap = Cap(Input("path", InputType.FilesystemPath, required: true), Input("limit", InputType.Integer, min: 1, max: 100000));
        Assert.False(ArgumentValidator.TryValidate(cap, Json(args), out _, out var error));
        Assert.Equal("InvalidInput", error!.ErrorType);
        Assert.Equal(field, error.ContextString("field"));
        Assert.Contains(reason, error.ContextString("reason"));
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"text\"")]
    [InlineData("42")]
    public void Should_refuse_arguments_that_are_not_an_object(string args)
    {
        Assert.False(ArgumentValidator.TryValidate(Cap(), Json(args), out _, out var error));
        Assert.Equal("arguments", error!.ContextString("field"));
    }

    [Fact]
    public void Should_treat_missing_and_null_arguments_as_an_empty_object()
    {
        Assert.True(ArgumentValidator.TryValidate(Cap(), null, out var a, out _));
        Assert.True(ArgumentValidator.TryValidate(Cap(), Json("null"), out var b, out _));
        Assert.Equal("{}", a.GetRawText());
        Assert.Equal("{}", b.GetRawText());
    }

    [Theory]
    [InlineData(InputType.Url, "\"https://example.org/x\"", true)]
    [InlineData(InputType.Url, "\"ftp://example.org/x\"", false)]
    [InlineData(InputType.Url, "\"not a url\"", false)]
    [InlineData(InputType.Sha256, "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"", true)]
    [InlineData(InputType.Sha256, "\"e3b0\"", false)]
    [InlineData(InputType.DateTime, "\"2026-11-25T10:00:00Z\"", true)]
    [InlineData(InputType.DateTime, "\"yesterday\"", false)]
    [InlineData(InputType.CronExpression, "\"*/5 * * * *\"", true)]
    [InlineData(InputType.CronExpression, "\"* *\"", false)]
    [InlineData(InputType.AgentId, "\"builder-1\"", true)]
    [InlineData(InputType.AgentId, "\"default\"", false)]
    [InlineData(InputType.AgentId, "\"Bad Name\"", false)]
    [InlineData(InputType.Signal, "\"SIGTERM\"", true)]
    [InlineData(InputType.Signal, "\"SIGBOGUS\"", false)]
    [InlineData(InputType.Boolean, "true", true)]
    [InlineData(InputType.Boolean, "\"true\"", false)]
    [InlineData(InputType.Number, "1.5", true)]
    [InlineData(InputType.Object, "{}", true)]
    [InlineData(InputType.Array, "{}", false)]
    public void Should_check_semantic_types(InputType type, string value, bool valid)
    {
        var cap = Cap(Input("v", type, required: true));
        Assert.Equal(valid, ArgumentValidator.TryValidate(cap, Json($$"""{"v":{{value}}}"""), out _, out _));
    }

    [Fact]
    public void Should_enforce_allowed_values()
    {
        var cap = Cap(Input("window", InputType.String, allowed: ["1m", "5m"]));
        Assert.True(ArgumentValidator.TryValidate(cap, Json("""{"window":"5m"}"""), out _, out _));
        Assert.False(ArgumentValidator.TryValidate(cap, Json("""{"window":"2m"}"""), out _, out var error));
        Assert.Contains("1m, 5m", error!.Message);
    }

    [Fact]
    public void Should_enforce_a_declared_maximum_length()
    {
        var cap = Cap(Input("tz", InputType.String, maxLength: 4));
        Assert.False(ArgumentValidator.TryValidate(cap, Json("""{"tz":"Europe"}"""), out _, out _));
    }

    [Fact]
    public void Should_generate_an_input_schema_with_types_defaults_enums_and_required()
    {
        var cap = Cap(Input("path", InputType.FilesystemPath, required: true), Input("window", InputType.String, @default: "\"5m\"", allowed: ["1m", "5m"]),
            Input("when", InputType.DateTime), Input("n", InputType.Integer, min: 1, max: 9));
        var schema = InputSchema.For(cap);
        Assert.Equal("object", schema.GetProperty("type").GetString());
        Assert.False(schema.GetProperty("additionalProperties").GetBoolean());
        Assert.Equal(["path"], schema.GetProperty("required").EnumerateArray().Select(e => e.GetString()!).ToArray());
        var props = schema.GetProperty("properties");
        Assert.Equal("string", props.GetProperty("path").GetProperty("type").GetString());
        Assert.Equal("5m", props.GetProperty("window").GetProperty("default").GetString());
        Assert.Equal(2, props.GetProperty("window").GetProperty("enum").GetArrayLength());
        Assert.Equal("date-time", props.GetProperty("when").GetProperty("format").GetString());
        Assert.Equal(9, props.GetProperty("n").GetProperty("maximum").GetDouble());
    }
}
