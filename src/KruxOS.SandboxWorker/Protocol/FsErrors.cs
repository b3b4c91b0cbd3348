using KruxOS.Core.Errors;

namespace KruxOS.SandboxWorker.Protocol;

/// <summary>The capability-level errors of the filesystem and git categories (spec §16.2), worded once.</summary>
internal static class FsErrors
{
    public static WorkerException OutOfScope(string path, string why) => new(
        StructuredError.Create("PathOutOfScope", $"Path '{path}' is outside the agent's allowed scope ({why})")
            .WithRecovery("check_scope", "See your workspace and mounts.", "agent.session")
            .WithRecovery("use_workspace_path", "Use a path under /workspace or a /mnt/<label> mount.")
            .WithContext("path", path), pathEscape: true);

    public static WorkerException NotFound(string path) => new(
        StructuredError.Create("FileNotFound", $"File not found: {path}")
            .WithRecovery("list_directory", "List the parent directory.", "filesystem.list")
            .WithRecovery("check_path", "Check the spelling of the path.")
            .WithContext("path", path));

    public static WorkerException DirectoryNotFound(string path) => new(
        StructuredError.Create("DirectoryNotFound", $"Directory not found: {path}")
            .WithRecovery("list_directory", "List the parent directory.", "filesystem.list")
            .WithContext("path", path));

    public static WorkerException NotADirectory(string path) => new(
        StructuredError.Create("NotADirectory", $"Not a directory: {path}")
            .WithRecovery("stat_path", "Check what the path is.", "filesystem.stat")
            .WithContext("path", path));

    public static WorkerException ParentNotFound(string path) => new(
        StructuredError.Create("ParentNotFound", $"The parent directory of '{path}' does not exist")
            .WithRecovery("create_parents", "Call again with create_parents=true.")
            .WithContext("path", path));

    public static WorkerException DestinationExists(string path) => new(
        StructuredError.Create("DestinationExists", $"Destination already exists: {path}")
            .WithRecovery("overwrite", "Call again with overwrite=true, or choose another destination.")
            .WithContext("path", path));

    public static WorkerException DirectoryNotEmpty(string path) => new(
        StructuredError.Create("DirectoryNotEmpty", $"Directory is not empty: {path}")
            .WithRecovery("delete_contents", "Delete the entries first.", "filesystem.list")
            .WithContext("path", path));

    public static WorkerException PermissionDenied(string path, string operation) => new(
        StructuredError.Create("PermissionDenied", $"Permission denied: cannot {operation} '{path}'")
            .WithRecovery("check_permissions", "Check the file and whether its mount is read-only.", "filesystem.stat")
            .WithRecovery("request_access", "Ask the operator for a writable mount.")
            .WithContext("path", path).WithContext("operation", operation));

    public static WorkerException DiskFull(string path) => new(
        StructuredError.Create("DiskFull", $"No space left while writing '{path}'")
            .WithRecovery("cleanup", "Delete files you no longer need.", "filesystem.delete")
            .WithContext("path", path));

    public static WorkerException Encoding(string path) => new(
        StructuredError.Create("EncodingError", $"'{path}' is not valid UTF-8 in the requested range")
            .WithRecovery("read_binary", "Read it with encoding=binary (base64).")
            .WithContext("path", path));

    public static WorkerException InvalidPattern(string pattern, string reason) => new(
        StructuredError.Create("InvalidPattern", $"Invalid pattern '{pattern}': {reason}")
            .WithRecovery("fix_pattern", "Correct the pattern syntax.")
            .WithContext("pattern", pattern).WithContext("reason", reason));

    public static WorkerException InvalidInput(string field, string reason) => new(Errors.InvalidInput(field, reason));

    public static WorkerException Custom(string type, string message, string action, string description, string? capability = null,
        params (string Key, object? Value)[] context)
    {
        var e = StructuredError.Create(type, message).WithRecovery(action, description, capability);
        foreach (var (k, v) in context) e = e.WithContext(k, v);
        return new WorkerException(e);
    }
}
