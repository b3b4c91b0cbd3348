using System.Text.Json.Nodes;
using KruxOS.Actors.Vault;
using KruxOS.Core.Vault;

namespace KruxOS.Gateway.Admin;

/// <summary>
/// The JSON shapes of the vault's admin records (control socket <c>vault.*</c>, User API <c>/api/vault/…</c>). Never a
/// value or a passphrase: the records they render carry none. Pinned by <c>Admin/AdminGoldenSpecs</c>.
/// </summary>
public static class VaultJson
{
    /// <summary><c>vault.status</c>.</summary>
    public static JsonObject Status(VaultStatus s) => new()
    {
        ["state"] = s.StateName,
        ["secrets"] = s.Secrets,
        ["revoked"] = s.Revoked,
        ["needs_attention"] = new JsonArray([.. s.NeedsAttention.Select(a => (JsonNode)new JsonObject { ["name"] = a.Name, ["reason"] = a.Reason })]),
    };

    /// <summary>One secret as listed.</summary>
    public static JsonObject Secret(SecretInfo i) => new()
    {
        ["name"] = i.Name,
        ["type"] = i.Type.ToWire(),
        ["managed"] = i.Managed,
        ["allowed_capabilities"] = new JsonArray([.. i.AllowedCapabilities.Select(c => (JsonNode)JsonValue.Create(c))]),
        ["allowed_hosts"] = new JsonArray([.. i.AllowedHosts.Select(h => (JsonNode)JsonValue.Create(h))]),
        ["version"] = i.Version,
        ["created_at"] = i.CreatedAt.ToString("O"),
        ["rotated_at"] = i.RotatedAt?.ToString("O"),
        ["revoked"] = i.Revoked,
        ["revoked_at"] = i.RevokedAt?.ToString("O"),
        ["needs_attention"] = i.NeedsAttention,
        ["attention_reason"] = i.AttentionReason,
    };

    /// <summary><c>vault.list</c>.</summary>
    public static JsonObject List(IEnumerable<SecretInfo> secrets)
    {
        var items = secrets.Select(s => (JsonNode)Secret(s)).ToArray();
        return new JsonObject { ["secrets"] = new JsonArray(items), ["total"] = items.Length };
    }

    /// <summary>An add, rotate or revoke.</summary>
    public static JsonObject Change(VaultChange c) => new() { ["message"] = c.Message, ["secret"] = Secret(c.Secret) };
}
