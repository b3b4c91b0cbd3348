using KruxOS.Core.Errors;

namespace KruxOS.SandboxWorker.Protocol;

/// <summary>A capability failure with its structured error; <see cref="PathEscape"/> marks an escape attempt.</summary>
internal sealed class WorkerException(StructuredError error, bool pathEscape = false) : Exception(error.Message)
{
    public StructuredError Error { get; } = error;
    public bool PathEscape { get; } = pathEscape;
}
