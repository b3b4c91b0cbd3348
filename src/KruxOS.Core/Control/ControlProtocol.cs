using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.Core.Control;

/// <summary>
/// The control-socket protocol between the <c>kruxos</c> CLI (or dashboard) and a gateway node:
/// newline-delimited JSON over a Unix socket that only the gateway's owner (root on the appliance) can
/// open. One request per line; one response line per request, except <c>watch</c>, which streams events.
/// </summary>
public static class ControlProtocol
{
    /// <summary>Longest accepted request line.</summary>
    public const int MaxLineBytes = 1024 * 1024;

    /// <summary>Method names.</summary>
    public static class Methods
    {
        public const string Status = "status";
        public const string Verify = "verify";
        public const string ClusterStatus = "cluster.status";
        public const string AgentCreate = "agent.create";
        public const string AgentList = "agent.list";
        public const string AgentShow = "agent.show";
        public const string AgentRotate = "agent.rotate";
        public const string AgentRevoke = "agent.revoke";
        public const string AgentRestore = "agent.restore";
        public const string Kill = "session.kill";
        public const string UserTokenCreate = "user-token.create";
        public const string UserTokenList = "user-token.list";
        public const string UserTokenRevoke = "user-token.revoke";
        public const string Watch = "watch";
        public const string MountAdd = "mount.add";
        public const string MountList = "mount.list";
        public const string MountRemove = "mount.remove";
        public const string ApprovalList = "approval.list";
        public const string ApprovalShow = "approval.show";
        public const string ApprovalApprove = "approval.approve";
        public const string ApprovalReject = "approval.reject";
        public const string ApprovalLink = "approval.link";
        public const string PolicyShow = "policy.show";
        public const string PolicySet = "policy.set";
        public const string PolicyCheck = "policy.check";
        public const string AuditRotate = "audit.rotate";
        public const string AuditClusterQuery = "audit.cluster_query";
        public const string AuditClusterVerify = "audit.cluster_verify";
        public const string AuthSocketList = "auth-socket.list";
        public const string AuthSocketAllow = "auth-socket.allow";
        public const string AuthSocketRevoke = "auth-socket.revoke";
        public const string VaultStatus = "vault.status";
        public const string VaultInit = "vault.init";
        public const string VaultUnlock = "vault.unlock";
        public const string VaultLock = "vault.lock";
        public const string VaultList = "vault.list";
        public const string VaultAdd = "vault.add";
        public const string VaultRotate = "vault.rotate";
        public const string VaultRevoke = "vault.revoke";
        public const string ProxyStatus = "proxy.status";
        public const string ProxyWrites = "proxy.writes";
        public const string ProxyCancel = "proxy.cancel";
        public const string ProxyRetry = "proxy.retry";
        public const string ProxyDiscard = "proxy.discard";
        public const string ProxyRollback = "proxy.rollback";
        public const string ProxyConnect = "proxy.connect";
        public const string ProxyDisconnect = "proxy.disconnect";
        public const string AlertList = "alerts.list";
        public const string AlertAck = "alerts.ack";
        public const string Pause = "session.pause";
        public const string Resume = "session.resume";
        public const string BackupCreate = "backup.create";
        public const string BackupList = "backup.list";
        public const string BackupRestore = "backup.restore";
        public const string BackupVerify = "backup.verify";
        public const string BackupExport = "backup.export";
        public const string StateList = "state.list";
        public const string StateGet = "state.get";
        public const string StateSet = "state.set";
        public const string StateDelete = "state.delete";
        public const string StateQuota = "state.quota";
        public const string StateSharedList = "state.shared.list";
        public const string StateSharedGet = "state.shared.get";
        public const string StateSharedSet = "state.shared.set";
        public const string StateSharedDelete = "state.shared.delete";
    }

    /// <summary>Builds a request line.</summary>
    public static string Request(long id, string method, JsonObject? parameters = null) =>
        new JsonObject { ["id"] = id, ["method"] = method, ["params"] = parameters ?? new JsonObject() }.ToJsonString();

    /// <summary>Builds a success response line.</summary>
    public static string Ok(JsonNode? id, JsonNode? result) =>
        new JsonObject { ["id"] = id?.DeepClone(), ["ok"] = true, ["result"] = result }.ToJsonString(CoreJson.Options);

    /// <summary>Builds a failure response line.</summary>
    public static string Fail(JsonNode? id, string type, string message, JsonObject? data = null)
    {
        var error = new JsonObject { ["type"] = type, ["message"] = message };
        if (data is not null) error["data"] = data;
        return new JsonObject { ["id"] = id?.DeepClone(), ["ok"] = false, ["error"] = error }.ToJsonString(CoreJson.Options);
    }
}

/// <summary>A parsed response line.</summary>
public sealed record ControlResponse(bool Ok, JsonNode? Result, string? ErrorType, string? ErrorMessage, JsonNode? ErrorData = null)
{
    /// <summary>Parses a response line; malformed lines become a failure.</summary>
    public static ControlResponse Parse(string line)
    {
        try
        {
            var node = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not an object");
            if (node["ok"]?.GetValue<bool>() == true) return new ControlResponse(true, node["result"], null, null);
            var error = node["error"] as JsonObject;
            return new ControlResponse(false, null, error?["type"]?.GetValue<string>() ?? "error", error?["message"]?.GetValue<string>() ?? "unknown error",
                error?["data"]?.DeepClone());
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return new ControlResponse(false, null, "protocol", $"malformed response from the gateway: {e.Message}");
        }
    }
}
