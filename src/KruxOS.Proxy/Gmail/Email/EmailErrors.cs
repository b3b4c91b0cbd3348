using KruxOS.Core.Errors;

namespace KruxOS.Proxy.Gmail.Email;

/// <summary>The <c>email.*</c> capability errors (spec §16.2), worded once.</summary>
internal static class EmailErrors
{
    public static StructuredError MissingParameter(string field) =>
        StructuredError.Create("MissingParameter", $"Missing required parameter '{field}'.")
            .WithRecovery("fix_input", $"Provide '{field}'.").WithContext("field", field);

    public static StructuredError Invalid(string field, string reason) => Errors.InvalidInput(field, reason);

    public static StructuredError MessageNotFound(string id) =>
        StructuredError.Create("MessageNotFound", $"No message '{Short(id)}' in the mailbox replica.")
            .WithRecovery("search", "Find the message id with email.search.", "email.search").WithContext("message_id", Short(id));

    public static StructuredError NoLabelsProvided() =>
        StructuredError.Create("NoLabelsProvided", "Give at least one label in add_labels or remove_labels.")
            .WithRecovery("fix_input", "List the labels to add or remove.");

    public static StructuredError BodyFetchFailed(string reason) =>
        StructuredError.Create("BodyFetchFailed", "Could not fetch the message body from Gmail: " + reason, retryable: true).RetryAfter(60)
            .WithRecovery("retry_later", "Try again later.");

    public static StructuredError WriteFailed(string reason) =>
        StructuredError.Create("WriteFailed", "Gmail did not accept the write: " + reason, retryable: false)
            .WithRecovery("fix_input", "Check the addresses and fields.").WithRecovery("retry_later", "Try again later if the service was unavailable.");

    public static StructuredError DatabaseError() =>
        StructuredError.Create("DatabaseError", "The mailbox replica could not be read.", retryable: true).RetryAfter(30)
            .WithRecovery("retry_later", "Try again shortly.");

    private static string Short(string s) => s.Length <= 64 ? s : s[..64] + "…";
}
