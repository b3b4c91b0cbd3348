using KruxOS.Core.Errors;
using KruxOS.Gateway.Endpoints;
using Xunit;

namespace KruxOS.Gateway.Tests.Protocol;

/// <summary>The <c>data</c> of JSON-RPC errors on <c>/rpc</c>.</summary>
public sealed class JsonRpcErrorDataSpecs
{
    [Fact]
    public void Should_give_a_rate_limit_the_spec_fields_retry_after_seconds_limit_and_window()
    {
        // spec §3.4: data:{retry_after_seconds:45, limit:100, window:"1h"}
        var data = JsonRpcEndpoint.ErrorData(Errors.RateLimited(100, 3600, 45));
        Assert.Equal(45, data["retry_after_seconds"]!.GetValue<double>());
        Assert.Equal(100, data["limit"]!.GetValue<int>());
        Assert.Equal("1h", data["window"]!.GetValue<string>());
        Assert.Equal(3600, data["window_seconds"]!.GetValue<long>());
        Assert.Equal("RateLimited", data["type"]!.GetValue<string>());
        Assert.Equal("wait_and_retry", data["recovery"]![0]!["action"]!.GetValue<string>());
    }

    [Fact]
    public void Should_add_no_window_to_errors_without_one() =>
        Assert.Null(JsonRpcEndpoint.ErrorData(Errors.PolicyDenied(KruxOS.Core.Capabilities.CapabilityName.Parse("process.run"), "org.yaml:3", "no"))["window"]);
}
