using System.Collections.Frozen;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Actors.Vault;
using KruxOS.Core.Admin;
using KruxOS.Core.Approvals;
using KruxOS.Core.Control;
using KruxOS.Core.Identity;
using KruxOS.Gateway.Admin;
using KruxOS.Gateway.Hosting;
using static KruxOS.Core.Control.ControlProtocol;

namespace KruxOS.Gateway.Control;

/// <summary>
/// The control-socket adapter (everything the <c>kruxos</c> CLI does except streaming): a table of methods, each of which
/// reads its parameters, calls an admin service and renders the service's record (<see cref="AdminJson"/>) or typed error
/// (its <see cref="AdminError.Code"/> is the line's error <c>type</c>).
/// </summary>
public sealed class ControlCommands(
    AgentAdmin agents,
    UserTokenAdmin tokens,
    ApprovalAdmin approvals,
    PolicyAdmin policy,
    MountAdmin mounts,
    AuditAdmin audit,
    StatusService status,
    KruxOS.Actors.Alerts.AlertAdmin alertAdmin,
    KruxOS.Actors.Pauses.PauseAdmin pauseAdmin,
    AuthSocketAccess? authSocket = null,
    VaultAdmin? vault = null,
    Dashboard.ApprovalLinks? links = null,
    BoundAddresses? bound = null,
    GatewayEndpoints? endpoints = null,
    ClusterAuditAdmin? clusterAudit = null,
    BackupControl? backups = null,
    KruxOS.Actors.State.StateAdmin? stateAdmin = null,
    KruxOS.Actors.Proxy.ProxyAdmin? proxyAdmin = null)
{
    private readonly ProxyControl? _proxy = proxyAdmin is null ? null : new ProxyControl(proxyAdmin);
    private readonly AgentAdmin _agents = agents;
    private readonly UserTokenAdmin _tokens = tokens;
    private readonly ApprovalAdmin _approvals = approvals;
    private readonly PolicyAdmin _policy = policy;
    private readonly MountAdmin _mounts = mounts;
    private readonly AuditAdmin _audit = audit;
    private readonly ClusterAuditAdmin? _clusterAudit = clusterAudit;
    private readonly StatusService _status = status;
    private readonly VaultControl? _vault = vault is null ? null : new VaultControl(vault);
    private readonly KruxOS.Actors.Alerts.AlertAdmin _alerts = alertAdmin;
    private readonly KruxOS.Actors.Pauses.PauseAdmin _pauses = pauseAdmin;
    private readonly BackupControl? _backups = backups;
    private readonly StateControl? _state = stateAdmin is null ? null : new StateControl(stateAdmin);

    /// <summary>One request as a method sees it.</summary>
    private readonly record struct Request(JsonObject Params, ApprovalDecider Decider, CancellationToken Ct);

    /// <summary>A method's answer: a result, or a typed error.</summary>
    private readonly record struct Reply(JsonNode? Result, AdminError? Error)
    {
        public static implicit operator Reply(JsonObject result) => new(result, null);

        public static implicit operator Reply(AdminError error) => new(null, error);

        public static Reply Of<T>(AdminResult<T> result, Func<T, JsonNode> render) => result.IsOk ? new(render(result.Value!), null) : new(null, result.Error);
    }

    private static readonly FrozenDictionary<string, Func<ControlCommands, Request, Task<Reply>>> Table =
        new Dictionary<string, Func<ControlCommands, Request, Task<Reply>>>
        {
            [Methods.Status] = async (c, r) => Reply.Of(await c._status.StatusAsync(r.Ct).ConfigureAwait(false), AdminJson.Status),
            [Methods.Verify] = async (c, r) => AdminJson.Verify(await c._status.VerifyAsync(r.Ct).ConfigureAwait(false)),
            [Methods.ClusterStatus] = async (c, r) => Reply.Of(await c._status.ClusterAsync(r.Ct).ConfigureAwait(false), AdminJson.Cluster),
            [Methods.AgentCreate] = async (c, r) => Reply.Of(await c._agents.CreateAsync(r.Params["name"]?.GetValue<string>(), r.Params["purpose"]?.GetValue<string>() ?? "", r.Ct)
                .ConfigureAwait(false), AdminJson.AgentIssued),
            [Methods.AgentList] = (c, _) => Task.FromResult<Reply>(AdminJson.Agents(c._agents.List())),
            [Methods.AgentShow] = (c, r) => Task.FromResult(Reply.Of(c._agents.Show(Name(r)), AdminJson.AgentDetails)),
            [Methods.AgentRotate] = async (c, r) => Reply.Of(await c._agents.RotateAsync(Name(r), r.Ct).ConfigureAwait(false), AdminJson.AgentIssued),
            [Methods.AgentRestore] = async (c, r) => Reply.Of(await c._agents.RestoreAsync(Name(r), r.Ct).ConfigureAwait(false), AdminJson.AgentIssued),
            [Methods.AgentRevoke] = async (c, r) => Reply.Of(await c._agents.RevokeAsync(Name(r), r.Ct).ConfigureAwait(false), AdminJson.AgentRevocation),
            [Methods.Kill] = async (c, r) => Reply.Of(await c._agents.KillAsync(r.Params["name"]?.GetValue<string>(), r.Ct).ConfigureAwait(false), AdminJson.Kill),
            [Methods.UserTokenCreate] = (c, r) => c.CreateUserTokenAsync(r),
            [Methods.UserTokenList] = (c, _) => Task.FromResult<Reply>(AdminJson.Tokens(c._tokens.List())),
            [Methods.UserTokenRevoke] = async (c, r) => Reply.Of(await c._tokens.RevokeAsync(r.Params["id"]?.GetValue<string>() ?? "", r.Ct).ConfigureAwait(false), AdminJson.Token),
            [Methods.ApprovalList] = async (c, r) => Reply.Of(await c._approvals.ListAsync(r.Params["status"]?.GetValue<string>(), r.Ct).ConfigureAwait(false), AdminJson.Approvals),
            [Methods.ApprovalShow] = async (c, r) => Reply.Of(await c._approvals.ShowAsync(r.Params["id"]?.GetValue<string>(), r.Ct).ConfigureAwait(false), a => AdminJson.Approval(a, true)),
            [Methods.ApprovalApprove] = (c, r) => c.DecideAsync(r, approve: true),
            [Methods.ApprovalReject] = (c, r) => c.DecideAsync(r, approve: false),
            [Methods.ApprovalLink] = (c, r) => c.ApprovalLinkAsync(r),
            [Methods.PolicyShow] = (c, _) => Task.FromResult<Reply>(AdminJson.PolicyStatus(c._policy.Show())),
            [Methods.PolicySet] = async (c, r) => Reply.Of(await c._policy.SetTemplateAsync(r.Params["template"]?.GetValue<string>() ?? "", r.Ct).ConfigureAwait(false), AdminJson.PolicySet),
            [Methods.PolicyCheck] = (c, r) => Task.FromResult(Reply.Of(c._policy.Check(r.Params["agent"]?.GetValue<string>(), r.Params["capability"]?.GetValue<string>(),
                r.Params["args"] is { } args ? JsonSerializer.SerializeToElement(args) : null), AdminJson.PolicyCheck)),
            [Methods.MountAdd] = (c, r) => Task.FromResult(Reply.Of(c._mounts.Add(r.Params["agent"]?.GetValue<string>(), r.Params["source"]?.GetValue<string>() ?? "",
                r.Params["label"]?.GetValue<string>() ?? "", r.Params["read_only"]?.GetValue<bool>() ?? false, r.Params["target"]?.GetValue<string>()), AdminJson.Mount)),
            [Methods.MountList] = (c, r) => Task.FromResult(Reply.Of(c._mounts.List(r.Params["agent"]?.GetValue<string>()), AdminJson.Mounts)),
            [Methods.MountRemove] = (c, r) => Task.FromResult(Reply.Of(c._mounts.Remove(r.Params["agent"]?.GetValue<string>(), r.Params["label"]?.GetValue<string>() ?? ""),
                AdminJson.MountRemoved)),
            [Methods.AuditRotate] = async (c, r) => Reply.Of(await c._audit.RotateAsync(r.Ct).ConfigureAwait(false), AdminJson.Retention),
            [Methods.AuditClusterQuery] = (c, r) => c.ClusterAuditQueryAsync(r),
            [Methods.AuditClusterVerify] = async (c, r) => c._clusterAudit is null ? NotClustered()
                : Reply.Of(await c._clusterAudit.VerifyAsync(r.Ct).ConfigureAwait(false), ClusterAuditJson.Verification),
            [Methods.AuthSocketList] = (c, r) => Task.FromResult(c.AuthSocket(r, null)),
            [Methods.AuthSocketAllow] = (c, r) => Task.FromResult(c.AuthSocket(r, allow: true)),
            [Methods.AuthSocketRevoke] = (c, r) => Task.FromResult(c.AuthSocket(r, allow: false)),
            [Methods.VaultStatus] = (c, r) => c.Vault(r, v => v.StatusAsync(r.Params, r.Ct)),
            [Methods.VaultInit] = (c, r) => c.Vault(r, v => v.InitAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.VaultUnlock] = (c, r) => c.Vault(r, v => v.UnlockAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.VaultLock] = (c, r) => c.Vault(r, v => v.LockAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.VaultList] = (c, r) => c.Vault(r, v => v.ListAsync(r.Params, r.Ct)),
            [Methods.VaultAdd] = (c, r) => c.Vault(r, v => v.AddAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.VaultRotate] = (c, r) => c.Vault(r, v => v.RotateAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.VaultRevoke] = (c, r) => c.Vault(r, v => v.RevokeAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.AlertList] = async (c, r) => Reply.Of(await c._alerts.ListAsync(r.Params["status"]?.GetValue<string>(), r.Params["limit"]?.GetValue<int>(), r.Ct)
                .ConfigureAwait(false), AdminJson.Alerts),
            [Methods.AlertAck] = async (c, r) => Reply.Of(await c._alerts.AcknowledgeAsync(r.Params["id"]?.GetValue<string>(), r.Decider.DecidedBy, r.Ct)
                .ConfigureAwait(false), AdminJson.AlertAcknowledged),
            [Methods.Pause] = async (c, r) => Reply.Of(await c._pauses.PauseAsync(Name(r), r.Decider.DecidedBy, r.Ct).ConfigureAwait(false), AdminJson.Pause),
            [Methods.Resume] = async (c, r) => Reply.Of(await c._pauses.ResumeAsync(Name(r), r.Decider.DecidedBy, r.Ct).ConfigureAwait(false), AdminJson.Pause),
            [Methods.BackupCreate] = (c, r) => c.Backup(b => b.CreateAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.BackupList] = (c, r) => c.Backup(b => b.ListAsync(r.Params, r.Ct)),
            [Methods.BackupRestore] = (c, r) => c.Backup(b => b.RestoreAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.BackupVerify] = (c, r) => c.Backup(b => b.VerifyAsync(r.Params, r.Ct)),
            [Methods.BackupExport] = (c, r) => c.Backup(b => b.ExportAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.StateList] = (c, r) => c.State(s => s.ListAsync(r.Params, r.Ct)),
            [Methods.StateGet] = (c, r) => c.State(s => s.GetAsync(r.Params, r.Ct)),
            [Methods.StateQuota] = (c, r) => c.State(s => s.QuotaAsync(r.Params, r.Ct)),
            [Methods.StateSet] = (c, r) => c.State(s => s.SetAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.StateDelete] = (c, r) => c.State(s => s.DeleteAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.StateSharedList] = (c, r) => c.State(s => s.SharedListAsync(r.Params, r.Ct)),
            [Methods.StateSharedGet] = (c, r) => c.State(s => s.SharedGetAsync(r.Params, r.Ct)),
            [Methods.StateSharedSet] = (c, r) => c.State(s => s.SharedSetAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.StateSharedDelete] = (c, r) => c.State(s => s.SharedDeleteAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.ProxyStatus] = (c, r) => c.Proxy(p => p.StatusAsync(r.Params, r.Ct)),
            [Methods.ProxyWrites] = (c, r) => c.Proxy(p => p.WritesAsync(r.Params, r.Ct)),
            [Methods.ProxyCancel] = (c, r) => c.Proxy(p => p.CancelAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.ProxyRetry] = (c, r) => c.Proxy(p => p.RetryAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.ProxyDiscard] = (c, r) => c.Proxy(p => p.DiscardAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.ProxyRollback] = (c, r) => c.Proxy(p => p.RollbackAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.ProxyConnect] = (c, r) => c.Proxy(p => p.ConnectAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
            [Methods.ProxyDisconnect] = (c, r) => c.Proxy(p => p.DisconnectAsync(r.Params, r.Decider.DecidedBy, r.Ct)),
        }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Runs one request for root at the control socket; returns the response line.</summary>
    public Task<string> ExecuteAsync(JsonNode? id, string method, JsonObject p, CancellationToken ct) =>
        ExecuteAsync(id, method, p, ApprovalDecider.ControlSocket(0), ct);

    /// <summary>
    /// Runs one request on behalf of <paramref name="decider"/>, the control socket's peer: approval decisions carry it to
    /// <see cref="ApprovalAdmin"/>, where separation of duties is applied for every adapter.
    /// </summary>
    public async Task<string> ExecuteAsync(JsonNode? id, string method, JsonObject p, ApprovalDecider decider, CancellationToken ct)
    {
        if (!Table.TryGetValue(method, out var run)) return Fail(id, "unknown_method", $"unknown method '{method}'");
        Reply reply;
        try
        {
            reply = await run(this, new Request(p, decider, ct)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or JsonException)
        {
            // A parameter of the wrong JSON type (or text that is not valid Unicode) throws where it is read.
            return Fail(id, "invalid_params", $"'{method}': a parameter has the wrong type or is not valid text ({e.Message})");
        }
        if (reply.Error is not { } error) return Ok(id, reply.Result);
        return error.ReportsStatus
            ? Fail(id, error.Code, error.Message, new JsonObject { ["status"] = error.Status })
            : Fail(id, error.Code, error.Message);
    }

    private async Task<Reply> Vault(Request r, Func<VaultControl, Task<(JsonNode? Result, AdminError? Error)>> run)
    {
        if (_vault is null) return AdminErrors.Unavailable("the vault is not hosted on this node");
        var (result, error) = await run(_vault).ConfigureAwait(false);
        return new Reply(result, error);
    }

    private async Task<Reply> Backup(Func<BackupControl, Task<(JsonNode? Result, AdminError? Error)>> run)
    {
        if (_backups is null) return AdminErrors.Unavailable("backups are not hosted on this node");
        var (result, error) = await run(_backups).ConfigureAwait(false);
        return new Reply(result, error);
    }

    private async Task<Reply> State(Func<StateControl, Task<(JsonNode? Result, AdminError? Error)>> run)
    {
        if (_state is null) return AdminErrors.Unavailable("the state area is not hosted on this node");
        var (result, error) = await run(_state).ConfigureAwait(false);
        return new Reply(result, error);
    }

    private async Task<Reply> Proxy(Func<ProxyControl, Task<(JsonNode? Result, AdminError? Error)>> run)
    {
        if (_proxy is null) return AdminErrors.Unavailable("the service proxy is not hosted on this node");
        var (result, error) = await run(_proxy).ConfigureAwait(false);
        return new Reply(result, error);
    }

    private static string Name(Request r) => r.Params["name"]?.GetValue<string>() ?? "";

    private static AdminError NotClustered() =>
        AdminErrors.InvalidInput("this gateway is not in a cluster; read its audit directory without --cluster");

    // audit.cluster_query: the filters of `kruxos audit query`, each checked as the CLI checks it.
    private async Task<Reply> ClusterAuditQueryAsync(Request r)
    {
        if (_clusterAudit is null) return NotClustered();
        string? Text(string name) => r.Params[name] is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;
        var q = new KruxOS.Audit.AuditQuery { Agent = Text("agent"), Limit = r.Params["limit"] is JsonValue l && l.TryGetValue<int>(out var n) ? n : 50 };
        if (Text("capability") is { } cap)
        {
            if (!KruxOS.Audit.AuditQuery.IsValidCapabilityGlob(cap)) return AdminErrors.InvalidInput($"'{cap}' is not a capability name or glob");
            q = q with { Capability = cap };
        }
        if (Text("outcome") is { } o && !q.TryWithOutcome(o, out q)) return AdminErrors.InvalidInput($"unknown outcome '{o}': expected {KruxOS.Audit.AuditQuery.Outcomes}");
        if (Text("last") is { } last)
        {
            if (!KruxOS.Audit.AuditQuery.TryParseWindow(last, out var w)) return AdminErrors.InvalidInput($"'{last}' is not a window such as 1h, 24h or 7d");
            q = q with { Last = w };
        }
        if (Text("from") is { } from)
        {
            if (!KruxOS.Audit.AuditQuery.TryParseBound(from, upper: false, out var t)) return AdminErrors.InvalidInput($"from '{from}' is not a timestamp or a date");
            q = q with { From = t };
        }
        if (Text("to") is { } to)
        {
            if (!KruxOS.Audit.AuditQuery.TryParseBound(to, upper: true, out var t)) return AdminErrors.InvalidInput($"to '{to}' is not a timestamp or a date");
            q = q with { To = t };
        }
        return Reply.Of(await _clusterAudit.QueryAsync(q, r.Ct).ConfigureAwait(false), ClusterAuditJson.Page);
    }

    private async Task<Reply> CreateUserTokenAsync(Request r)
    {
        var label = r.Params["label"] is JsonValue l && l.TryGetValue<string>(out var text) ? text : "";
        // No role means a client token: the safe default, and what every token created before roles existed is.
        var role = CredentialRole.Client;
        if (r.Params["role"] is { } given && !(given is JsonValue rv && rv.TryGetValue<string>(out var roleText) && CredentialRoles.TryParse(roleText, out role)))
            return AdminErrors.InvalidInput("role must be \"client\" or \"operator\"");
        return Reply.Of(await _tokens.CreateAsync(label, role, r.Ct).ConfigureAwait(false), AdminJson.TokenIssued);
    }

    private async Task<Reply> DecideAsync(Request r, bool approve) =>
        Reply.Of(await _approvals.DecideAsync(r.Params["id"]?.GetValue<string>(), approve, r.Decider, r.Params["reason"]?.GetValue<string>() ?? "", r.Ct).ConfigureAwait(false),
            a => AdminJson.Approval(a, true));

    /// <summary>
    /// <c>approval.link {id, host?}</c>: a signed, single-use, short-lived dashboard URL that opens one pending approval for
    /// decision (ADR 0046), made as the control socket's peer (decisions through it are recorded as <c>link:root</c>).
    /// <c>host</c> is the name the phone reaches the node by (default: this node's local address).
    /// </summary>
    private async Task<Reply> ApprovalLinkAsync(Request r)
    {
        if (links is null || bound is null || endpoints is null || bound.DashboardPort <= 0)
            return new AdminError(AdminErrorKind.Unavailable, "ServiceUnavailable", "the dashboard is off on this node (Gateway:DashboardPort -1)");
        var host = endpoints.LocalHost;
        if (r.Params["host"] is JsonValue hv && hv.TryGetValue<string>(out var given) && given.Length > 0)
        {
            if (HostFilter.ValidateEntry(given) is { } why) return AdminErrors.InvalidInput("host: " + why);
            host = given.Contains(':', StringComparison.Ordinal) ? $"[{given}]" : given;
        }
        var issued = await links.IssueAsync(r.Params["id"]?.GetValue<string>(), r.Decider.Name, r.Ct).ConfigureAwait(false);
        if (!issued.IsOk) return issued.Error!;
        return new JsonObject
        {
            ["id"] = r.Params["id"]?.GetValue<string>(),
            ["url"] = $"https://{host}:{bound.DashboardPort}/link/{issued.Value!.Token}",
            ["expires_at"] = issued.Value.Expires.ToString("O"),
            ["single_use"] = true,
        };
    }

    /// <summary>
    /// <c>auth-socket.list</c> / <c>allow {uid}</c> / <c>revoke {uid}</c>: who besides root and the gateway's uid may mint
    /// credentials on the auth socket (ADR 0026). Answers the socket path and both lists.
    /// </summary>
    private Reply AuthSocket(Request r, bool? allow)
    {
        if (authSocket is null) return new AdminError(AdminErrorKind.Unavailable, "unavailable", "the auth socket is not served by this node");
        AuthSocketAccess.Change? change = null;
        if (allow is { } granting)
        {
            if (r.Params["uid"] is not JsonValue v || !v.TryGetValue<uint>(out var uid))
                return AdminErrors.InvalidInput("uid must be a non-negative integer (a user id)");
            change = granting ? authSocket.Allow(uid) : authSocket.Revoke(uid);
            if (change.Error is { } why) return AdminErrors.InvalidInput(why);
        }
        return AdminJson.AuthSocket(authSocket, change);
    }
}
