using System.Text.Json;
using KruxOS.Core.Audit;
using Xunit;

namespace KruxOS.Core.Tests.Audit;

public sealed class InputSanitizerSpecs
{
    private const string AgentToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("password")]
    [InlineData("Password")]
    [InlineData("db_password")]
    [InlineData("API_KEY")]
    [InlineData("apiKey")]
    [InlineData("X-Api-Key")]
    [InlineData("xapikey")]
    [InlineData("Authorization")]
    [InlineData("privateKeyPem")]
    [InlineData("access_key")]
    [InlineData("refresh_token")]
    [InlineData("githubToken")]
    [InlineData("client_secret")]
    [InlineData("passphrase")]
    [InlineData("aws-credentials")]
    [InlineData("token")]
    public void Should_treat_secret_looking_names_as_secret(string name) =>
        Assert.True(InputSanitizer.IsSecretFieldName(name));

    [Theory]
    [InlineData("path")]
    [InlineData("max_tokens")]
    [InlineData("tokenizer")]
    [InlineData("token_type")]
    [InlineData("secret_name")]
    [InlineData("key")]
    [InlineData("content")]
    public void Should_keep_names_that_only_describe_secrets(string name) =>
        Assert.False(InputSanitizer.IsSecretFieldName(name));

    [Fact]
    public void Should_redact_secret_fields_recursively_in_objects_and_arrays()
    {
        var input = JsonDocument.Parse("""
            {"url":"https://x","headers":{"Authorization":"Bearer abc","Accept":"json"},
             "accounts":[{"user":"a","Password":"hunter2"},{"user":"b","api_key":{"nested":"s3cr3t"}}],
             "count":3}
            """).RootElement;

        var clean = InputSanitizer.Sanitize(input);
        var text = clean.GetRawText();

        Assert.Equal("[REDACTED:Authorization]", clean.GetProperty("headers").GetProperty("Authorization").GetString());
        Assert.Equal("json", clean.GetProperty("headers").GetProperty("Accept").GetString());
        Assert.Equal("[REDACTED:Password]", clean.GetProperty("accounts")[0].GetProperty("Password").GetString());
        Assert.Equal("[REDACTED:api_key]", clean.GetProperty("accounts")[1].GetProperty("api_key").GetString());
        Assert.Equal(3, clean.GetProperty("count").GetInt32());
        Assert.DoesNotContain("hunter2", text);
        Assert.DoesNotContain("s3cr3t", text);
        Assert.DoesNotContain("Bearer abc", text);
    }

    [Fact]
    public void Should_redact_token_looking_values_wherever_they_appear()
    {
        var input = JsonDocument.Parse($$"""
            {"command":"curl -H 'X: {{AgentToken}}' http://h","note":"use krx_user_Ab12-cd_34 now",
             "list":["{{AgentToken}}"],"sha_prefix":"{{AgentToken}}0"}
            """).RootElement;

        var clean = InputSanitizer.Sanitize(input);
        var text = clean.GetRawText();

        Assert.DoesNotContain(AgentToken + "'", text);
        Assert.DoesNotContain("krx_user_Ab12", text);
        Assert.Equal("use [REDACTED:token] now", clean.GetProperty("note").GetString());
        Assert.Equal("[REDACTED:token]", clean.GetProperty("list")[0].GetString());
        // 65 hex characters are not an agent token
        Assert.Equal(AgentToken + "0", clean.GetProperty("sha_prefix").GetString());
    }

    [Fact]
    public void Should_be_idempotent()
    {
        var input = JsonDocument.Parse("""{"token":"abc","inner":{"secret":[1,2]}}""").RootElement;

        var once = InputSanitizer.Sanitize(input);
        var twice = InputSanitizer.Sanitize(once);

        Assert.Equal(once.GetRawText(), twice.GetRawText());
    }

    [Fact]
    public void Should_never_let_secrets_reach_the_sealed_record()
    {
        var entry = AuditTestData.Entry(1) with
        {
            Inputs = JsonDocument.Parse("""{"password":"hunter2"}""").RootElement,
            OutputSummary = $"token {AgentToken} issued",
        };

        var sealedRecord = AuditChain.FromGenesis().Seal(entry);
        var bytes = sealedRecord.Payload.ToArray();

        Assert.Equal(-1, bytes.AsSpan().IndexOf("hunter2"u8));
        Assert.Equal(-1, bytes.AsSpan().IndexOf(System.Text.Encoding.ASCII.GetBytes(AgentToken)));
        Assert.Equal("token [REDACTED:token] issued", sealedRecord.Entry.OutputSummary);
    }
}
