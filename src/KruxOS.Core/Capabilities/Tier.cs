namespace KruxOS.Core.Capabilities;

/// <summary>
/// A policy tier. The numeric order is the order of restrictiveness: a larger value is stricter,
/// so "most restrictive wins" is <c>Max</c>.
/// </summary>
public enum Tier
{
    /// <summary>Runs at once, audited.</summary>
    Autonomous = 0,
    /// <summary>Runs at once and emits a supervision notification.</summary>
    Notify = 1,
    /// <summary>Held until a human decides.</summary>
    ApprovalRequired = 2,
    /// <summary>Never runs; omitted from tool listings.</summary>
    Blocked = 3,
}

/// <summary>Parsing and rendering of tiers in their wire and file spellings.</summary>
public static class Tiers
{
    /// <summary>The spelling used on the wire, in audit entries and in policy files.</summary>
    public static string ToWire(this Tier tier) => tier switch
    {
        Tier.Autonomous => "autonomous",
        Tier.Notify => "notify",
        Tier.ApprovalRequired => "approval_required",
        Tier.Blocked => "blocked",
        _ => throw new ArgumentOutOfRangeException(nameof(tier), tier, null),
    };

    /// <summary>
    /// Reads a tier, accepting the documented aliases <c>approval</c> and <c>require_approval</c>
    /// (case-insensitive, '-' and '_' interchangeable).
    /// </summary>
    public static bool TryParse(string? text, out Tier tier)
    {
        switch (text?.Trim().ToLowerInvariant().Replace('-', '_'))
        {
            case "autonomous": tier = Tier.Autonomous; return true;
            case "notify": tier = Tier.Notify; return true;
            case "approval_required" or "approval" or "require_approval" or "requires_approval":
                tier = Tier.ApprovalRequired; return true;
            case "blocked" or "block" or "deny": tier = Tier.Blocked; return true;
            default: tier = default; return false;
        }
    }

    /// <summary>The stricter of two tiers.</summary>
    public static Tier Strictest(Tier a, Tier b) => a >= b ? a : b;
}
