using System.Collections.Frozen;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>
/// The capabilities the warm worker executes, read from the classes that execute them (no second list to keep in step).
/// The gateway's sandbox host offers exactly these plus its own process operations; start-up fails for a sandboxed
/// definition no one executes.
/// </summary>
public static class WorkerCapabilities
{
    /// <summary>Every capability name the worker dispatches.</summary>
    public static FrozenSet<string> Names { get; } =
        FileOps.Operations.Concat(GitOps.Operations).Append(Watches.Capability).ToFrozenSet(StringComparer.Ordinal);
}
