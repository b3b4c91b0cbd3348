using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Proxy;

/// <summary>The Service Proxy's errors (spec §16.1 <c>proxy.*</c>), worded once.</summary>
public static class ProxyErrors
{
    /// <summary><c>proxy.batch_protection</c>: the write would exceed its batch threshold (held for approval, or refused where no approval is possible).</summary>
    public static StructuredError BatchProtection(CapabilityName operation, int count, int threshold) =>
        StructuredError.Create("proxy.batch_protection",
                $"Batch protection triggered: {count} {operation.Value} writes exceeds threshold ({threshold})")
            .WithRecovery("request_approval", "A human must approve writes beyond the batch threshold; wait for the approval or slow down.")
            .WithContext("operation", operation.Value).WithContext("count", count).WithContext("threshold", threshold);

    /// <summary><c>proxy.service_error</c>: the provider returned an error.</summary>
    public static StructuredError ServiceError(ServiceName service, string message) =>
        StructuredError.Create("proxy.service_error", $"External service {service.Value} returned an error: {message}", retryable: true)
            .RetryAfter(60)
            .WithRecovery("retry_later", "Try again later.")
            .WithContext("service", service.Value);

    /// <summary>The service is not connected (no credential in the vault): the operator must run <c>kruxos connect</c>.</summary>
    public static StructuredError NotConnected(ServiceName service) =>
        StructuredError.Create("ServiceUnavailable", $"Service '{service.Value}' is unavailable: it is not connected", retryable: true)
            .RetryAfter(60)
            .WithRecovery("contact_admin", $"Ask the operator to connect it ('kruxos connect {service.Value}').")
            .WithRecovery("check_service_status", "Check gateway health.", "system.health")
            .WithContext("service", service.Value).WithContext("reason", "not connected");

    /// <summary>
    /// No write with this id that the caller may act on. The same for an id that does not exist and one that belongs to
    /// another agent, so an agent learns nothing about other agents' writes.
    /// </summary>
    public static StructuredError WriteNotFound(string writeId) =>
        StructuredError.Create("WriteNotFound", $"No buffered write '{Shorten(writeId)}' of yours exists.")
            .WithRecovery("check_write_id", "Use the write_id returned by the write capability.")
            .WithContext("write_id", Shorten(writeId));

    /// <summary>The write has left its window (executing, done, cancelled or dead-lettered) and cannot be cancelled any more.</summary>
    public static StructuredError WriteNotCancellable(WriteId id, string status) =>
        StructuredError.Create("WriteNotCancellable", $"Write '{id.Value}' can no longer be cancelled: it is {status}.")
            .WithRecovery("check_status", "A write can be cancelled only while it is buffered.")
            .WithContext("write_id", id.Value).WithContext("status", status);

    private static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";
}
