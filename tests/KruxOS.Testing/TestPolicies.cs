using KruxOS.Actors.Policy;

namespace KruxOS.Testing;

/// <summary>Policy files the end-to-end specs start gateways with.</summary>
public static class TestPolicies
{
    /// <summary>An agent policy that makes <c>system.time</c> <c>approval_required</c>: the approval specs' held call.</summary>
    public const string HoldSystemTime = "rules:\n  - capability: system.time\n    tier: approval_required\n    reason: a human checks the clock\n";

    /// <summary>A fresh data directory whose agent <paramref name="agent"/> has the policy <paramref name="yaml"/>.</summary>
    public static string DataDirWithAgentPolicy(string prefix, string agent, string yaml = HoldSystemTime)
    {
        // Private (0700) under a private parent, as TestGateway makes them.
        var dataDir = Path.Combine(Directory.CreateTempSubdirectory(prefix).FullName, "data");
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "agents", $"{agent}.yaml"), yaml);
        return dataDir;
    }
}
