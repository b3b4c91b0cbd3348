using System.Text.Json;
using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Core.Admin;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Audit;

/// <summary>
/// The audit of operator changes made through the admin services (ADR 0057): vault, pauses, alert acknowledgements and
/// state-admin writes, whichever surface (control socket, User API, dashboard) called the service. Each change is written
/// <em>before</em> it is made (<c>pending</c>, "requested") and its outcome after it (<c>success</c>, <c>error</c>). A change
/// whose first entry the audit writer refuses or does not acknowledge in time is not made: the service answers
/// <c>audit_error</c> (fail closed, as calls do). Entries name the operator (<c>user:&lt;label&gt;</c>, or
/// <c>cli:root</c> / <c>cli:uid-N</c> at the control socket), the action and its subject; callers never pass a value, a
/// passphrase or a secret. Not for use inside actors.
/// </summary>
public sealed class OperatorAudit(ActorRegistry registry, TimeProvider clock, ILogger<OperatorAudit> log)
{
    /// <summary>How long a change waits for the audit writer's acknowledgement of its first entry.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    /// <summary>The code of the refusal when the entry could not be written.</summary>
    public const string ErrorCode = "audit_error";

    /// <summary>The actor of an operator's entries: <c>user:&lt;label&gt;</c> for <c>user:&lt;label&gt;</c>, else <c>user:&lt;by&gt;</c>.</summary>
    public static Principal ActorOf(string by)
    {
        ArgumentNullException.ThrowIfNull(by);
        return Principal.ForUser(by.StartsWith("user:", StringComparison.Ordinal) ? by[5..] : by);
    }

    /// <summary>
    /// Writes the <c>requested</c> entry of <paramref name="action"/> (e.g. <c>operator.vault.add</c>) by <paramref name="by"/>
    /// about <paramref name="subject"/>, and waits until it is durable. Null when it is; otherwise the error the change must
    /// be refused with.
    /// </summary>
    public async Task<AdminError?> RequestedAsync(string by, string action, JsonObject subject, CancellationToken ct)
    {
        var failure = await AppendAsync(Entry(by, action, subject, AuditStatus.Pending, "requested"), ct).ConfigureAwait(false);
        if (failure is null) return null;
        log.LogError("Operator change {Action} by {By} refused: its audit entry was not written ({Reason})", action, by, failure);
        return new AdminError(AdminErrorKind.Failed, ErrorCode, $"the change was not made: its audit entry could not be written ({failure})");
    }

    /// <summary>
    /// Writes the outcome entry of a change whose request was audited (best effort: the change is already made or refused),
    /// with <paramref name="outcome"/>'s details (e.g. the version a write produced) added to the subject.
    /// </summary>
    public async Task OutcomeAsync<T>(string by, string action, JsonObject subject, AdminResult<T> result, CancellationToken ct,
        Func<T, JsonObject?>? outcome = null)
    {
        if (result.IsOk && outcome?.Invoke(result.Value!) is { } extra)
        {
            subject = (JsonObject)subject.DeepClone();
            foreach (var (k, v) in extra) subject[k] = v?.DeepClone();
        }
        var entry = result.IsOk
            ? Entry(by, action, subject, AuditStatus.Success, "done")
            : Entry(by, action, subject, result.Error!.Kind is AdminErrorKind.Forbidden ? AuditStatus.Denied : AuditStatus.Error,
                $"{result.Error.Code}: {result.Error.Message}");
        var failure = await AppendAsync(entry, CancellationToken.None).ConfigureAwait(false);
        if (failure is not null) log.LogError("The outcome entry of {Action} by {By} was not written ({Reason})", action, by, failure);
    }

    /// <summary>
    /// Audits <paramref name="change"/>: the request entry first (refused with <c>audit_error</c> when it cannot be written,
    /// and then <paramref name="change"/> never runs), then the change, then its outcome entry.
    /// </summary>
    public async Task<AdminResult<T>> AuditedAsync<T>(string by, string action, JsonObject subject, Func<Task<AdminResult<T>>> change, CancellationToken ct,
        Func<T, JsonObject?>? outcome = null)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (await RequestedAsync(by, action, subject, ct).ConfigureAwait(false) is { } refused) return refused;
        var result = await change().ConfigureAwait(false);
        await OutcomeAsync(by, action, subject, result, ct, outcome).ConfigureAwait(false);
        return result;
    }

    private AuditEntry Entry(string by, string action, JsonObject subject, AuditStatus status, string summary)
    {
        var details = (JsonObject)subject.DeepClone();
        details["operator"] = by;
        return AuditEntry.Call(clock.GetUtcNow(), ActorOf(by), null, CapabilityName.Parse(action), JsonSerializer.SerializeToElement(subject), status,
            InputSanitizer.RedactTokens(summary), null, 0, metadata: new AuditMetadata(DecidedBy: by, Details: JsonSerializer.SerializeToElement(details)));
    }

    private Task<string?> AppendAsync(AuditEntry entry, CancellationToken ct) => registry.AppendAcknowledgedAsync(entry, Timeout, ct);
}
