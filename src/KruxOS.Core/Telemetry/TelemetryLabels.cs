using System.Collections.Concurrent;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Telemetry;

/// <summary>
/// The values metric labels may take. A label value never comes from what an agent wrote: a capability is named only
/// when the catalogue resolved the call to a definition (the definition's own name), and every other name an agent
/// sends — however many — is one value, <see cref="UnknownCapability"/>. Error codes come from the gateway and its
/// modules, but a sandboxed handler's reply is parsed from a process the agent's code shares a kernel with, so they are
/// bounded too (<see cref="ErrorCodes"/>).
/// </summary>
public static class TelemetryLabels
{
    /// <summary>The one capability label of every call the catalogue did not resolve.</summary>
    public const string UnknownCapability = "unknown";

    /// <summary>The tier label of a call refused before the policy decided (unknown capability, invalid input).</summary>
    public const string NoTier = "none";

    /// <summary>The capability label of a call: its catalogue definition's name, or <see cref="UnknownCapability"/>.</summary>
    public static string Capability(CapabilityDefinition? resolved) => resolved?.Name.Value ?? UnknownCapability;

    /// <summary>The tier label: the wire spelling, or <see cref="NoTier"/> when nothing was decided.</summary>
    public static string Tier(Tier? tier) => tier is { } t ? t.ToWire() : NoTier;

    /// <summary>The outcome label: the audit status's wire spelling.</summary>
    public static string Outcome(AuditStatus status) => status.ToWire();

    /// <summary>Longest text a span attribute of ours carries.</summary>
    public const int MaxSpanText = 64;

    /// <summary>
    /// <paramref name="value"/> as a span attribute: at most <see cref="MaxSpanText"/> characters, and null when it
    /// holds anything but printable ASCII (a value the gateway made never does).
    /// </summary>
    public static string? SpanText(string? value)
    {
        if (value is null) return null;
        foreach (var c in value)
            if (c is < ' ' or > '~') return null;
        return value.Length <= MaxSpanText ? value : value[..MaxSpanText];
    }

    /// <summary>The error-code labels of this process (bounded).</summary>
    public static BoundedLabels ErrorCodes { get; } = new(BoundedLabels.DefaultCapacity);
}

/// <summary>
/// A bounded set of label values: a well-formed value (a letter, then at most 63 letters, digits, <c>_</c> or <c>.</c>)
/// is its own label while fewer than <see cref="Capacity"/> distinct values have been seen; anything else — malformed,
/// or new once the set is full — is <see cref="Other"/>. The number of distinct values is therefore at most
/// <see cref="Capacity"/> + 1 whatever the input. Thread-safe; lookups of a known value do not allocate.
/// </summary>
public sealed class BoundedLabels(int capacity)
{
    /// <summary>The capacity used for error codes: more than the gateway defines, few enough for any backend.</summary>
    public const int DefaultCapacity = 128;

    /// <summary>The label of every value not admitted.</summary>
    public const string Other = "other";

    private readonly ConcurrentDictionary<string, string> _seen = new(StringComparer.Ordinal);
    private int _count;

    /// <summary>How many distinct values may be labels of their own.</summary>
    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity));

    /// <summary>The label for <paramref name="value"/>.</summary>
    public string Of(string? value)
    {
        if (value is null) return Other;
        if (_seen.TryGetValue(value, out var known)) return known;
        if (!WellFormed(value)) return Other;
        if (Interlocked.Increment(ref _count) > Capacity)
        {
            Interlocked.Decrement(ref _count);
            return Other;
        }
        // A racing admission of the same value keeps one entry; the slot counted twice is a harmless undercount.
        return _seen.GetOrAdd(value, value);
    }

    /// <summary>Whether <paramref name="value"/> may be a label at all.</summary>
    public static bool WellFormed(string value)
    {
        if (value.Length is 0 or > 64 || !char.IsAsciiLetter(value[0])) return false;
        foreach (var c in value)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '_' or '.')) return false;
        return true;
    }
}
