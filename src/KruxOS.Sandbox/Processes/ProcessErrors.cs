using KruxOS.Core.Errors;

namespace KruxOS.Sandbox.Processes;

/// <summary>The process category's errors (spec §16.2).</summary>
internal static class ProcessErrors
{
    public static StructuredError CommandNotFound(string command) =>
        StructuredError.Create("CommandNotFound", $"Command not found in the sandbox: {command}")
            .WithRecovery("check_command", "Use a program installed under /usr, or a script in your workspace (e.g. ./run.sh).")
            .WithRecovery("use_shell", "For pipelines run command 'sh' with args ['-c', '…'].")
            .WithContext("command", command);

    public static StructuredError LimitExceeded(string limit, string requested, string allowed) =>
        StructuredError.Create("ResourceLimitExceeded", $"Requested {limit} {requested} exceeds this agent's allocation ({allowed})")
            .WithRecovery("lower_limit", "Ask for at most the agent's allocation, or omit the limit.")
            .WithContext("limit", limit).WithContext("requested", requested).WithContext("allowed", allowed);

    public static StructuredError SpawnFailed(string detail) =>
        StructuredError.Create("SpawnFailed", $"The process could not be started in the sandbox: {detail}")
            .WithRecovery("retry", "Try again; if it persists, check system.health.", "system.health")
            .WithContext("detail", detail);

    public static StructuredError NotFound(string id) =>
        StructuredError.Create("ProcessNotFound", $"No process '{id}' for this agent")
            .WithRecovery("list_processes", "List your processes.", "process.list")
            .WithContext("process_id", id);

    public static StructuredError AlreadyExited(string id, string state) =>
        StructuredError.Create("ProcessAlreadyExited", $"Process '{id}' has already ended ({state})")
            .WithRecovery("read_logs", "Read its output.", "process.logs")
            .WithContext("process_id", id).WithContext("state", state);

    public static StructuredError KillFailed(string id, string detail) =>
        StructuredError.Create("KillFailed", $"Could not signal process '{id}': {detail}")
            .WithRecovery("retry", "Try SIGKILL.", "process.kill")
            .WithContext("process_id", id);

    public static StructuredError InvalidFilter(string value) =>
        StructuredError.Create("InvalidFilter", $"Unknown state filter '{value}'")
            .WithRecovery("fix_input", "Use running, completed, killed, timed_out or all.")
            .WithContext("state_filter", value);

    public static StructuredError InvalidStream(string value) =>
        StructuredError.Create("InvalidStream", $"Unknown stream '{value}'")
            .WithRecovery("fix_input", "Use stdout, stderr or both.")
            .WithContext("stream", value);

    public static StructuredError PathOutOfScope(string path, string why) =>
        StructuredError.Create("PathOutOfScope", $"Path '{path}' is outside the agent's allowed scope ({why})")
            .WithRecovery("check_scope", "See your workspace and mounts.", "agent.session")
            .WithRecovery("use_workspace_path", "Use a directory under /workspace or a /mnt/<label> mount.")
            .WithContext("path", path);
}
