using KruxOS.Core.Errors;
using Xunit;

namespace KruxOS.Core.Tests.Errors;

public sealed class RateWindowTextSpecs
{
    [Theory]
    [InlineData(3600, "1h")]
    [InlineData(7200, "2h")]
    [InlineData(60, "1m")]
    [InlineData(900, "15m")]
    [InlineData(86400, "1d")]
    [InlineData(604800, "7d")]
    [InlineData(90, "90s")]
    [InlineData(30, "30s")]
    [InlineData(0, "0s")]
    public void Should_write_a_window_in_its_largest_whole_unit(long seconds, string text) => Assert.Equal(text, RateWindowText.Format(seconds));
}
