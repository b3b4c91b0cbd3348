using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// Audit entries of the dashboard's own events — sign-in (succeeded, failed, throttled) and sign-out — appended to the
/// node's audit writer like every other entry (hash-chained, <c>capability</c> <c>dashboard.sign_in</c> /
/// <c>dashboard.sign_out</c>). Never a token: a failed attempt records only the address, the reason and, for a token of
/// the right shape, nothing of the token at all.
/// </summary>
public sealed class DashboardAudit(IRequiredActor<AuditWriter> writer, TimeProvider clock)
{
    /// <summary>How long a sign-in waits for its entry.</summary>
    public static readonly TimeSpan AppendTimeout = TimeSpan.FromSeconds(10);

    /// <summary>Records a sign-in attempt; true when the entry was accepted (durable, or buffered in degrade mode).</summary>
    public Task<bool> SignInAsync(string? label, string address, bool succeeded, string reason, CancellationToken ct) =>
        AppendAsync("dashboard.sign_in", label, address, succeeded ? AuditStatus.Success : AuditStatus.Denied, reason, ct);

    /// <summary>Records a sign-out.</summary>
    public Task<bool> SignOutAsync(string label, string address, CancellationToken ct) =>
        AppendAsync("dashboard.sign_out", label, address, AuditStatus.Success, "signed out", ct);

    private async Task<bool> AppendAsync(string capability, string? label, string address, AuditStatus status, string reason, CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var entry = new AuditEntry
        {
            Id = Guid.CreateVersion7(now),
            Timestamp = now,
            Kind = AuditEntryKind.Call,
            // A failed attempt names no principal: whoever tried is not known.
            Actor = Principal.ForUser(label ?? "anonymous"),
            Capability = capability,
            Inputs = JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["remote_address"] = address, ["surface"] = "dashboard" }),
            Status = status,
            OutputSummary = reason,
            Client = new AuditClient("dashboard"),
            Metadata = status == AuditStatus.Denied ? new AuditMetadata(ErrorType: "auth.sign_in_failed") : AuditMetadata.Empty,
        };
        try
        {
            var audit = await writer.GetAsync(ct).ConfigureAwait(false);
            var reply = await audit.Ask<object>(replyTo => new AuditCommands.Append(entry, replyTo), AppendTimeout, ct).ConfigureAwait(false);
            return reply is AuditReplies.AuditAppended or AuditReplies.AuditBuffered;
        }
        catch (Exception e) when (e is AskTimeoutException or TaskCanceledException or OperationCanceledException)
        {
            return false;
        }
    }
}
