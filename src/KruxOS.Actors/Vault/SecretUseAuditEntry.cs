using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Vault;
using KruxOS.Vault;

namespace KruxOS.Actors.Vault;

/// <summary>
/// Pure mapping of one secret resolution to its audit entry (spec §10.3 step 5): a <c>secrets.use</c> row naming the agent,
/// its session, the capability that asked, the secret name, the destination host and the outcome with its reason. Never
/// the value: the entry is built from <see cref="SecretUseAudit"/>, which has none.
/// </summary>
public static class SecretUseAuditEntry
{
    /// <summary>The capability name of the entries.</summary>
    public static readonly CapabilityName Capability = CapabilityName.Parse("secrets.use");

    /// <summary>The entry for <paramref name="audit"/>, the resolution of <paramref name="use"/>, at <paramref name="at"/>.</summary>
    public static AuditEntry For(SecretUseContext use, SecretUseAudit audit, string? errorType, DateTimeOffset at)
    {
        ArgumentNullException.ThrowIfNull(use);
        ArgumentNullException.ThrowIfNull(audit);
        var name = SecretName.Shorten(audit.SecretName ?? string.Empty);
        var inputs = new JsonObject
        {
            ["secret_name"] = name,
            ["capability"] = audit.Capability,
            ["host"] = audit.Host,
        };
        var details = new JsonObject
        {
            ["outcome"] = audit.Outcome,
            ["granted"] = audit.Granted,
            ["secret_name"] = name,
            ["capability"] = audit.Capability,
            ["host"] = audit.Host,
        };
        return AuditEntry.Call(at, Principal.ForAgent(use.Agent), use.SessionId, Capability, JsonSerializer.SerializeToElement(inputs),
            audit.Granted ? AuditStatus.Success : AuditStatus.Denied,
            InputSanitizer.RedactTokens($"{audit.Outcome}: {audit.Reason}"), null, 0,
            metadata: new AuditMetadata(ErrorType: audit.Granted ? null : errorType, Details: JsonSerializer.SerializeToElement(details)));
    }
}
