using KruxOS.Core.Identity;

namespace KruxOS.Core.Admin;

/// <summary>What kind of failure an admin operation met; adapters map it to their protocol (an HTTP status, a dashboard banner).</summary>
public enum AdminErrorKind
{
    /// <summary>The request itself is wrong (a malformed name, an unknown template, arguments that would be refused).</summary>
    InvalidInput,

    /// <summary>The thing named does not exist.</summary>
    NotFound,

    /// <summary>The thing exists but is not in a state that allows the operation (already decided, already revoked, already exists).</summary>
    Conflict,

    /// <summary>The caller may not do this (separation of duties on approvals).</summary>
    Forbidden,

    /// <summary>The service cannot answer yet (the approval queue is still loading after a restart).</summary>
    Unavailable,

    /// <summary>The gateway did not answer in time; nothing is known to have changed.</summary>
    Timeout,

    /// <summary>The operation ran and failed (an I/O or audit error).</summary>
    Failed,
}

/// <summary>
/// A typed admin failure. <see cref="Code"/> is the control socket's error <c>type</c> string, unchanged since before the
/// services existed (<c>invalid_input</c>, <c>NotFound</c>, <c>Conflict</c>, <c>Forbidden</c>, <c>ServiceUnavailable</c>,
/// <c>timeout</c>, <c>audit_error</c>, <c>io_error</c>, and the <see cref="IdentityResultCode"/> names); adapters never
/// read it to decide anything — they switch on <see cref="Kind"/>.
/// </summary>
public sealed record AdminError(AdminErrorKind Kind, string Code, string Message)
{
    /// <summary>
    /// True when the answer comes from an approval entity, which reports the approval's status with it (null when it has
    /// none to report); the adapters then show <see cref="Status"/>.
    /// </summary>
    public bool ReportsStatus { get; init; }

    /// <summary>The approval's status as the entity reported it (for a conflict: the status it already has).</summary>
    public string? Status { get; init; }
}

/// <summary>The result of an admin operation: a record, or a typed error.</summary>
public readonly record struct AdminResult<T>(T? Value, AdminError? Error)
{
    /// <summary>True when the operation succeeded (<see cref="Value"/> is set).</summary>
    public bool IsOk => Error is null;

    /// <summary>A success.</summary>
    public static AdminResult<T> Ok(T value) => new(value, null);

    /// <summary>A failure.</summary>
    public static AdminResult<T> Fail(AdminError error) => new(default, error);

    /// <summary>A success.</summary>
    public static implicit operator AdminResult<T>(T value) => Ok(value);

    /// <summary>A failure.</summary>
    public static implicit operator AdminResult<T>(AdminError error) => Fail(error);
}

/// <summary>The admin errors shared by every service, with today's codes and messages.</summary>
public static class AdminErrors
{
    /// <summary>The message of every timed-out admin operation.</summary>
    public const string TimeoutMessage = "the gateway did not answer in time; nothing is known to have changed";

    /// <summary>A request the operation refuses as malformed (<c>invalid_input</c>).</summary>
    public static AdminError InvalidInput(string message) => new(AdminErrorKind.InvalidInput, "invalid_input", message);

    /// <summary>An unknown name or id (<c>NotFound</c>).</summary>
    public static AdminError NotFound(string message) => new(AdminErrorKind.NotFound, "NotFound", message);

    /// <summary>The service is not ready yet (<c>ServiceUnavailable</c>).</summary>
    public static AdminError Unavailable(string message) => new(AdminErrorKind.Unavailable, "ServiceUnavailable", message);

    /// <summary>No answer in time (<c>timeout</c>).</summary>
    public static readonly AdminError Timeout = new(AdminErrorKind.Timeout, "timeout", TimeoutMessage);

    /// <summary>The identity registry's refusal, under its own code name.</summary>
    public static AdminError FromIdentity(IdentityResultCode code, string message) => new(code switch
    {
        IdentityResultCode.NotFound => AdminErrorKind.NotFound,
        IdentityResultCode.InvalidInput => AdminErrorKind.InvalidInput,
        IdentityResultCode.AlreadyExists or IdentityResultCode.InvalidState => AdminErrorKind.Conflict,
        _ => AdminErrorKind.Failed,
    }, code.ToString(), message);
}
