using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Capabilities.SystemCategory;

/// <summary><c>system.time</c>: the current time in UTC and optionally an IANA zone.</summary>
[Capability("system.time")]
public sealed class SystemTimeHandler : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var now = context.Now;
        string? zoneName = arguments.TryGetProperty("timezone", out var tz) && tz.ValueKind == JsonValueKind.String ? tz.GetString() : null;
        string? local = null;
        if (!string.IsNullOrWhiteSpace(zoneName) && !string.Equals(zoneName, "UTC", StringComparison.OrdinalIgnoreCase))
        {
            TimeZoneInfo zone;
            try { zone = TimeZoneInfo.FindSystemTimeZoneById(zoneName); }
            catch (Exception e) when (e is TimeZoneNotFoundException or InvalidTimeZoneException or ArgumentException)
            {
                throw new CapabilityException(StructuredError.Create("InvalidTimezone", $"Unknown time zone '{zoneName}'.")
                    .WithRecovery("fix_input", "Use an IANA zone name such as America/New_York, or omit it for UTC.")
                    .WithContext("timezone", zoneName));
            }
            local = TimeZoneInfo.ConvertTime(now, zone).ToString("yyyy-MM-dd'T'HH:mm:ss.fffzzz", System.Globalization.CultureInfo.InvariantCulture);
        }
        else if (zoneName is not null)
        {
            local = now.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'+00:00'", System.Globalization.CultureInfo.InvariantCulture);
        }
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new
        {
            utc = now.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            unix_epoch = now.ToUnixTimeSeconds(),
            unix_epoch_ms = now.ToUnixTimeMilliseconds(),
            local,
            timezone = string.IsNullOrWhiteSpace(zoneName) ? "UTC" : zoneName,
        }));
    }
}
