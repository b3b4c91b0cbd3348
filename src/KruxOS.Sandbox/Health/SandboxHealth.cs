namespace KruxOS.Sandbox.Health;

/// <summary>Status of the <c>sandbox-confinement</c> health check.</summary>
public enum SandboxHealthStatus
{
    /// <summary>Every mechanism is active; sandboxed capabilities run confined.</summary>
    Healthy,
    /// <summary>Confinement works but something non-essential failed recently (e.g. a worker restart).</summary>
    Degraded,
    /// <summary>Sandboxed capabilities are refused (setup failed) or run unconfined (development setting).</summary>
    Critical,
}

/// <summary>Answer of the <c>sandbox-confinement</c> health check.</summary>
/// <param name="Status">Overall status.</param>
/// <param name="Message">One line for the operator.</param>
/// <param name="Unconfined">True when the development setting <c>Sandbox:Disabled</c> is on.</param>
/// <param name="CgroupVersion">v1, v2, or null when cgroups are unavailable.</param>
public sealed record SandboxHealth(SandboxHealthStatus Status, string Message, bool Unconfined, string? CgroupVersion)
{
    /// <summary>Name of the health check.</summary>
    public const string CheckName = "sandbox-confinement";
}
