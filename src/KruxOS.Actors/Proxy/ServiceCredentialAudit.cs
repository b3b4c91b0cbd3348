using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;
using KruxOS.Proxy;
using KruxOS.Vault;

namespace KruxOS.Actors.Proxy;

/// <summary>
/// Pure mapping of the proxy's audit entries: every resolution of a service credential (a <c>secrets.use</c> row naming
/// the agent served — or the service itself, as the user principal <c>service-proxy</c> — the capability, the host, the
/// purpose and the outcome; never the value) and every operator change (<c>proxy.cancel</c>, <c>proxy.retry</c>,
/// <c>proxy.discard</c>, <c>proxy.connect</c>, <c>proxy.disconnect</c>, credential stores and flags).
/// </summary>
public static class ServiceCredentialAudit
{
    /// <summary>The principal of the service's own work (sync, verify, refresh, revoke).</summary>
    public static readonly Principal ServicePrincipal = Principal.ForUser("service-proxy");

    /// <summary>The entry of one credential resolution.</summary>
    public static AuditEntry Use(CredentialUse use, SecretUseAudit audit, string? errorType, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(use);
        ArgumentNullException.ThrowIfNull(audit);
        var inputs = new JsonObject
        {
            ["secret_name"] = audit.SecretName,
            ["capability"] = audit.Capability,
            ["host"] = audit.Host,
            ["service"] = use.Service.Value,
            ["purpose"] = Clip(use.Purpose, 32),
            ["write_id"] = use.WriteId?.Value,
        };
        var details = new JsonObject
        {
            ["outcome"] = audit.Outcome,
            ["granted"] = audit.Granted,
            ["secret_name"] = audit.SecretName,
            ["service"] = use.Service.Value,
            ["purpose"] = Clip(use.Purpose, 32),
            ["agent"] = use.Agent?.Value,
        };
        var actor = use.Agent is { } agent ? Principal.ForAgent(agent) : ServicePrincipal;
        return AuditEntry.Call(at, actor, use.SessionId, Vault.SecretUseAuditEntry.Capability, JsonSerializer.SerializeToElement(inputs),
            audit.Granted ? AuditStatus.Success : AuditStatus.Denied, InputSanitizer.RedactTokens($"{audit.Outcome}: {audit.Reason}"), null, 0,
            metadata: new AuditMetadata(ErrorType: audit.Granted ? null : errorType, Details: JsonSerializer.SerializeToElement(details)));
    }

    /// <summary>
    /// The entry of an operator's (or the service's own) change: <paramref name="action"/> is the capability-like name
    /// (<c>proxy.cancel</c>), <paramref name="by"/> the user principal's label, <paramref name="target"/> the write id or service.
    /// </summary>
    public static AuditEntry Change(string action, string by, string target, bool ok, string outcome, DateTimeOffset at, string? surface = null)
    {
        var inputs = new JsonObject { ["target"] = Clip(target, 128), ["surface"] = surface };
        return new AuditEntry
        {
            Id = Guid.CreateVersion7(at),
            Timestamp = at,
            Kind = AuditEntryKind.Call,
            Actor = Principal.ForUser(Clip(by, 128)),
            Capability = action,
            Inputs = JsonSerializer.SerializeToElement(inputs),
            Status = ok ? AuditStatus.Success : AuditStatus.Error,
            OutputSummary = InputSanitizer.RedactTokens(Clip(outcome, 500)),
            Metadata = AuditMetadata.Empty,
        };
    }

    private static string Clip(string text, int max) => text.Length <= max ? text : text[..max];
}
