using System.Text.Json;
using KruxOS.Core.Approvals;
using KruxOS.Core.Errors;
using CoreErrors = KruxOS.Core.Errors.Errors;
using Xunit;

namespace KruxOS.Core.Tests.Approvals;

/// <summary>The re-attach answer and hint (ADR 0058): what a cut-off held call is told, and what a re-sent call may name.</summary>
public sealed class ApprovalReattachSpecs
{
    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    [Fact]
    public void Should_tell_the_client_to_send_the_call_again_naming_the_approval_retryable_with_a_retry_after()
    {
        var e = CoreErrors.ApprovalReattach("filesystem.delete", "appr-00aa", 2);
        Assert.Equal("ApprovalReattach", e.ErrorType);
        Assert.True(e.Retryable);
        Assert.Equal(2, e.RetryAfterSeconds);
        Assert.Equal("appr-00aa", e.ContextString("request_id"));
        Assert.Equal("filesystem.delete", e.ContextString("capability"));
        var recovery = Assert.Single(e.Recovery);
        Assert.Equal("reattach", recovery.Action);
        Assert.Contains(ApprovalReattach.MetaField, recovery.Description, StringComparison.Ordinal);
        Assert.Equal(ApprovalId.Parse("appr-00aa"), ApprovalReattach.Of(e));
    }

    [Fact]
    public void Should_find_an_approval_only_in_an_ApprovalReattach_answer()
    {
        Assert.Null(ApprovalReattach.Of(null));
        Assert.Null(ApprovalReattach.Of(CoreErrors.ApprovalPending("x.y", "appr-00aa")));
        Assert.Null(ApprovalReattach.Of(StructuredError.Create("ApprovalReattach", "no id")));
        Assert.Null(ApprovalReattach.Of(StructuredError.Create("ApprovalReattach", "bad id").WithContext("request_id", "../etc")));
    }

    [Fact]
    public void Should_read_an_absent_hint_as_none_and_a_well_formed_one_as_its_approval()
    {
        Assert.Equal((null, null), ApprovalReattach.Read(null));
        Assert.Equal((null, null), ApprovalReattach.Read(Json("null")));
        Assert.Equal((ApprovalId.Parse("appr-0123456789abcdef"), null), ApprovalReattach.Read(Json("\"appr-0123456789abcdef\"")));
    }

    [Theory]
    [InlineData("42")]
    [InlineData("{\"id\":\"appr-00aa\"}")]
    [InlineData("\"appr-\"")]
    [InlineData("\"APPR-00AA\"")]
    [InlineData("\"appr-00aa/../../etc\"")]
    [InlineData("\"\"")]
    [InlineData("\"appr-\\ud800\"")]
    public void Should_refuse_a_malformed_hint_as_invalid_input_naming_the_field(string json)
    {
        var (id, refusal) = ApprovalReattach.Read(Json(json));
        Assert.Null(id);
        Assert.Equal("InvalidInput", refusal?.ErrorType);
        Assert.Equal("_meta." + ApprovalReattach.MetaField, refusal!.ContextString("field"));
    }
}
