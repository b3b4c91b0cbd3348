namespace KruxOS.Core.Agents;

/// <summary>Where agents see their workspace, whatever its host path (ADR 0001).</summary>
public static class Workspace
{
    public const string AgentPath = "/workspace";

    /// <summary>Per-agent persistent state quota (spec §17).</summary>
    public const long StateQuotaBytes = 100L * 1024 * 1024;
}
