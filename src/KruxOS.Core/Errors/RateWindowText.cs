using System.Globalization;

namespace KruxOS.Core.Errors;

/// <summary>A rate-limit window as spec §3.4 writes it on the wire (<c>window: "1h"</c>).</summary>
public static class RateWindowText
{
    /// <summary>The largest whole unit: <c>1d</c>, <c>1h</c>, <c>15m</c>, else seconds (<c>90s</c>).</summary>
    public static string Format(long seconds) => seconds switch
    {
        > 0 when seconds % 86400 == 0 => (seconds / 86400).ToString(CultureInfo.InvariantCulture) + "d",
        > 0 when seconds % 3600 == 0 => (seconds / 3600).ToString(CultureInfo.InvariantCulture) + "h",
        > 0 when seconds % 60 == 0 => (seconds / 60).ToString(CultureInfo.InvariantCulture) + "m",
        _ => seconds.ToString(CultureInfo.InvariantCulture) + "s",
    };
}
