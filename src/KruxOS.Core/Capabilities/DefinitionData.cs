using System.Text.Json;

namespace KruxOS.Core.Capabilities;

/// <summary>Which remotes a sandboxed capability may reach (its definition's <c>remote_access</c>).</summary>
public enum RemoteAccess
{
    /// <summary>None: the call gets no remote grant.</summary>
    None,
    /// <summary>The git remotes the caller's policy allows (<c>git.remotes</c>, ADR 0012).</summary>
    Git,
}

/// <summary>
/// How long a call of a capability may legitimately run (its definition's <c>max_duration_seconds</c> or
/// <c>duration_input</c>): a fixed time, or the value of a numeric input in seconds (the argument, else the input's default,
/// capped at its maximum).
/// </summary>
/// <param name="Fixed">A fixed maximum duration, or null.</param>
/// <param name="Input">The input whose value is the duration in seconds, or null.</param>
public sealed record MaxDurationDefinition(TimeSpan? Fixed, string? Input)
{
    /// <summary>The duration of one call of <paramref name="definition"/> with <paramref name="arguments"/> (validated and normalized).</summary>
    public TimeSpan? For(CapabilityDefinition definition, JsonElement arguments)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (Fixed is { } fixedDuration) return fixedDuration;
        if (Input is null) return null;
        var input = definition.Inputs.FirstOrDefault(i => i.Name == Input);
        if (input is null) return null;
        double? seconds = arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty(Input, out var v) && v.ValueKind == JsonValueKind.Number
            ? v.GetDouble()
            : input.Default is { ValueKind: JsonValueKind.Number } d ? d.GetDouble() : null;
        if (seconds is not { } s) return null;
        if (input.Maximum is { } max && s > max) s = max;
        return TimeSpan.FromSeconds(s);
    }
}
