using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using KruxOS.Core.Approvals;
using KruxOS.Actors.Capabilities;
using KruxOS.Capabilities;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Control;
using KruxOS.Core.Identity;
using KruxOS.Core.Policy;
using KruxOS.Gateway.Auth;
using KruxOS.Gateway.Hosting;
using KruxOS.Gateway.Tls;
using static KruxOS.Core.Control.ControlProtocol;

namespace KruxOS.Gateway.Control;

/// <summary>
/// Executes control-socket requests (everything the <c>kruxos</c> CLI does except streaming). Tokens are
/// generated here, handed to the registry only as hashes, and returned to the caller exactly once.
/// </summary>
public sealed partial class ControlCommands(
    IRequiredActor<IdentityRegistry> identity,
    IRequiredActor<AgentSessionRegion> sessions,
    IRequiredActor<ApprovalRegion> approvals,
    ApprovalIndex approvalIndex,
    IRequiredActor<PolicyStoreActor> policyLoader,
    PolicyStore policies,
    IdentityDirectory directory,
    CapabilityCatalog catalog,
    HealthRegistry health,
    NodeStatus status,
    NodeFacts facts,
    AgentActivity activity,
    GatewaySettings gateway,
    KruxOsSettings settings,
    BoundAddresses addresses,
    MountCommands mounts,
    IRequiredActor<AuditWriter> audit,
    IRequiredActor<SandboxHousekeeping> sandboxes,
    TimeProvider clock,
    ILogger<ControlCommands> log,
    UserTokenUsage? usage = null,
    GatewayEndpoints? endpoints = null,
    NodeCertificates? certificates = null,
    AuthSocketAccess? authSocket = null)
{
    private static readonly TimeSpan EdgeTimeout = TimeSpan.FromSeconds(15);

    /// <summary>Retention reads every expiring file for its anchor before deleting it: allow it more than a plain request.</summary>
    private static readonly TimeSpan RotateTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs one request for root at the control socket; returns the response line.</summary>
    public Task<string> ExecuteAsync(JsonNode? id, string method, JsonObject p, CancellationToken ct) =>
        ExecuteAsync(id, method, p, ApprovalDecider.ControlSocket(0), ct);

    /// <summary>
    /// Runs one request on behalf of <paramref name="decider"/>: the control socket's peer, or the User API's user. Approval
    /// decisions carry it to the approval entity, where separation of duties is decided (<see cref="ApprovalSeparation"/>).
    /// </summary>
    public async Task<string> ExecuteAsync(JsonNode? id, string method, JsonObject p, ApprovalDecider decider, CancellationToken ct)
    {
        try
        {
            return method switch
            {
                Methods.Status => Ok(id, await StatusAsync(ct).ConfigureAwait(false)),
                Methods.Verify => Ok(id, await VerifyAsync(ct).ConfigureAwait(false)),
                Methods.AgentCreate => await CreateAgentAsync(id, p, ct).ConfigureAwait(false),
                Methods.AgentList => Ok(id, new JsonObject { ["agents"] = new JsonArray([.. directory.Current.Agents.Values.Select(a => (JsonNode)AgentJson(a))]) }),
                Methods.AgentShow => Show(id, p),
                Methods.AgentRotate => await IssueAsync(id, p, (n, h) => new IdentityCommands.RotateAgentToken(n, h, clock.GetUtcNow()), ct).ConfigureAwait(false),
                Methods.AgentRestore => await IssueAsync(id, p, (n, h) => new IdentityCommands.RestoreAgent(n, h, clock.GetUtcNow()), ct).ConfigureAwait(false),
                Methods.AgentRevoke => await RevokeAsync(id, p, ct).ConfigureAwait(false),
                Methods.Kill => await KillAsync(id, p, ct).ConfigureAwait(false),
                Methods.UserTokenCreate => await CreateUserTokenAsync(id, p, ct).ConfigureAwait(false),
                Methods.UserTokenList => Ok(id, new JsonObject { ["tokens"] = new JsonArray([.. directory.Current.UserTokens.Values.OrderBy(t => t.CreatedAt).Select(t => (JsonNode)TokenJson(t))]) }),
                Methods.UserTokenRevoke => await RevokeUserTokenAsync(id, p, ct).ConfigureAwait(false),
                Methods.ApprovalList => await IndexLoadedAsync(ct).ConfigureAwait(false) ? ListApprovals(id, p) : IndexLoading(id),
                Methods.ApprovalShow => await IndexLoadedAsync(ct).ConfigureAwait(false) ? ShowApproval(id, p) : IndexLoading(id),
                Methods.ApprovalApprove => await DecideAsync(id, p, true, decider, ct).ConfigureAwait(false),
                Methods.ApprovalReject => await DecideAsync(id, p, false, decider, ct).ConfigureAwait(false),
                Methods.PolicyShow => Ok(id, PolicyStatusJson(policies.Status)),
                Methods.PolicySet => await SetPolicyAsync(id, p, ct).ConfigureAwait(false),
                Methods.PolicyCheck => CheckPolicy(id, p),
                Methods.MountAdd or Methods.MountList or Methods.MountRemove => mounts.Execute(id, method, p),
                Methods.AuditRotate => await RotateAuditAsync(id, ct).ConfigureAwait(false),
                Methods.AuthSocketList or Methods.AuthSocketAllow or Methods.AuthSocketRevoke => AuthSocket(id, method, p),
                _ => Fail(id, "unknown_method", $"unknown method '{method}'"),
            };
        }
        catch (AskTimeoutException)
        {
            return Fail(id, "timeout", "the gateway did not answer in time; nothing is known to have changed");
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or System.Text.Json.JsonException)
        {
            // A parameter of the wrong JSON type (or text that is not valid Unicode) throws where it is read.
            return Fail(id, "invalid_params", $"'{method}': a parameter has the wrong type or is not valid text ({e.Message})");
        }
    }

    private async Task<JsonObject> StatusAsync(CancellationToken ct)
    {
        var report = await health.RunAsync(ct).ConfigureAwait(false);
        var agents = directory.Current.Agents.Values.ToList();
        return new JsonObject
        {
            ["version"] = facts.Version,
            ["uptime_seconds"] = (long)(clock.GetUtcNow() - facts.StartedAt).TotalSeconds,
            ["data_dir"] = settings.DataDir,
            ["gateway"] = new JsonObject { ["bind"] = gateway.Bind, ["port"] = addresses.GatewayPort, ["mcp"] = endpoints?.Current().Mcp ?? $"ws://{gateway.Bind}:{addresses.GatewayPort}/mcp" },
            ["endpoints"] = endpoints?.Current().ToJson(),
            ["tls"] = certificates is null ? null : TlsJson(certificates),
            ["health_port"] = addresses.HealthPort,
            ["user_api_port"] = addresses.UserApiPort,
            ["clustering"] = settings.UseClustering,
            ["health"] = report.Status.ToWire(),
            ["services"] = new JsonArray([.. report.Services.Select(s => (JsonNode)new JsonObject { ["name"] = s.Name, ["status"] = s.Status.ToWire(), ["details"] = s.Message })]),
            ["agents"] = new JsonObject
            {
                ["total"] = agents.Count,
                ["active"] = agents.Count(a => a.Status == AgentStatus.Active),
                ["revoked"] = agents.Count(a => a.Status == AgentStatus.Revoked),
            },
            ["active_sessions"] = await status.ActiveConnectionsAsync(ct).ConfigureAwait(false),
            ["total_invocations"] = status.TotalInvocations,
            ["capabilities"] = catalog.Registry.All.Length,
            ["policy"] = policies.Status.Summary,
            ["policy_revision"] = policies.Status.Revision,
            ["approval_queue"] = new JsonObject { ["pending"] = approvalIndex.PendingCount },
        };
    }

    private async Task<JsonObject> VerifyAsync(CancellationToken ct)
    {
        var checks = new JsonArray();
        void Check(string name, bool pass, string detail) => checks.Add(new JsonObject { ["name"] = name, ["pass"] = pass, ["detail"] = detail });

        Check("gateway", addresses.GatewayPort > 0, $"MCP listening on {gateway.Bind}:{addresses.GatewayPort}" + (endpoints is null ? "" : $" ({endpoints.Current().Mcp}{(endpoints.Current().McpPlainText is { } p ? ", plain text on loopback: " + p : ", plain text refused")})"));
        Check("health", addresses.HealthPort > 0, $"Health listening on 127.0.0.1:{addresses.HealthPort}");
        Check("user-api", addresses.UserApiPort > 0, $"User API listening on 127.0.0.1:{addresses.UserApiPort}");
        Check("identities", directory.Ready.IsCompletedSuccessfully, $"{directory.Current.Agents.Count} agents, {directory.Current.UserTokens.Count} user tokens recovered");
        var categories = catalog.Registry.Categories.Length;
        Check("capabilities", catalog.Registry.All.Length > 0, $"{catalog.Registry.All.Length} capabilities across {categories} categories");
        var probe = Path.Combine(settings.DataDir, ".verify-" + Guid.NewGuid().ToString("N"));
        try
        {
            await File.WriteAllTextAsync(probe, "ok", ct).ConfigureAwait(false);
            File.Delete(probe);
            Check("data-dir", true, $"{settings.DataDir} is writable");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Check("data-dir", false, $"{settings.DataDir} is not writable: {e.Message}");
        }
        var report = await health.RunAsync(ct).ConfigureAwait(false);
        foreach (var s in report.Services) Check($"health:{s.Name}", s.Status != HealthStatus.Critical, $"{s.Status.ToWire()}: {s.Message}");
        return new JsonObject { ["checks"] = checks, ["passed"] = checks.All(c => c!["pass"]!.GetValue<bool>()) };
    }

    private async Task<string> CreateAgentAsync(JsonNode? id, JsonObject p, CancellationToken ct)
    {
        var name = p["name"]?.GetValue<string>();
        var purpose = p["purpose"]?.GetValue<string>() ?? "";
        if (!AgentName.TryParse(name, out _, out var why)) return Fail(id, "invalid_input", why);
        var token = TokenHashing.NewAgentToken();
        var result = await AskIdentityAsync(new IdentityCommands.CreateAgent(name!, purpose, TokenHashing.Hash(token), clock.GetUtcNow()), ct).ConfigureAwait(false);
        if (!result.IsOk) return Fail(id, result.Code.ToString(), result.Message);
        var json = AgentJson(result.Agent!);
        json["token"] = token;
        return Ok(id, json);
    }

    private async Task<string> IssueAsync(JsonNode? id, JsonObject p, Func<string, string, IIdentityCommand> command, CancellationToken ct)
    {
        var name = p["name"]?.GetValue<string>() ?? "";
        var token = TokenHashing.NewAgentToken();
        var result = await AskIdentityAsync(command(name, TokenHashing.Hash(token)), ct).ConfigureAwait(false);
        if (!result.IsOk) return Fail(id, result.Code.ToString(), result.Message);
        var json = AgentJson(result.Agent!);
        json["token"] = token;
        return Ok(id, json);
    }

    private async Task<string> RevokeAsync(JsonNode? id, JsonObject p, CancellationToken ct)
    {
        var name = p["name"]?.GetValue<string>() ?? "";
        var result = await AskIdentityAsync(new IdentityCommands.RevokeAgent(name, clock.GetUtcNow()), ct).ConfigureAwait(false);
        if (!result.IsOk) return Fail(id, result.Code.ToString(), result.Message);
        // Its sessions are already terminated; now everything it runs stops, and its calls stay refused (every node
        // also holds it as soon as its identity read model shows the revocation).
        await StopSandboxesAsync(name, hold: true, "agent revoked", ct).ConfigureAwait(false);
        var json = AgentJson(result.Agent!);
        json["sandbox_stopped"] = true;
        return Ok(id, json);
    }

    private async Task<string> KillAsync(JsonNode? id, JsonObject p, CancellationToken ct)
    {
        var name = p["name"]?.GetValue<string>();
        if (!AgentName.TryParse(name, out var agent, out var why)) return Fail(id, "invalid_input", why);
        if (!directory.Current.Agents.ContainsKey(agent.Value)) return Fail(id, "NotFound", $"agent '{agent}' not found");
        var region = await sessions.GetAsync(ct).ConfigureAwait(false);
        var result = await region.Ask<AgentSessionReplies.TerminateResult>(new AgentSessionCommands.Terminate(agent, "killed by operator"), EdgeTimeout, ct).ConfigureAwait(false);
        // Kill ends what the agent runs too (its background processes), but its token stays valid: the next call starts afresh.
        var stopped = await StopSandboxesAsync(agent.Value, hold: false, "killed by operator", ct).ConfigureAwait(false);
        return Ok(id, new JsonObject { ["agent"] = result.Agent, ["connections_closed"] = result.ConnectionsClosed, ["processes_stopped"] = stopped });
    }

    // This node's stop is awaited (the CLI answers once it is done); in a cluster the other nodes are told at once and stop theirs.
    private async Task<int> StopSandboxesAsync(string agent, bool hold, string reason, CancellationToken ct)
    {
        var housekeeping = await sandboxes.GetAsync(ct).ConfigureAwait(false);
        var stopped = await housekeeping.Ask<SandboxStopMessages.AgentStopped>(new SandboxStopMessages.StopAgent(agent, hold, reason), StopTimeout, ct).ConfigureAwait(false);
        return stopped.ProcessesKilled;
    }

    /// <summary>Stopping waits for every killed process to be reaped (each at most 10 s); allow it more than a plain request.</summary>
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    private async Task<string> CreateUserTokenAsync(JsonNode? id, JsonObject p, CancellationToken ct)
    {
        var label = p["label"] is JsonValue l && l.TryGetValue<string>(out var text) ? text : "";
        // No role means a client token: the safe default, and what every token created before roles existed is.
        var role = CredentialRole.Client;
        if (p["role"] is { } r && !(r is JsonValue rv && rv.TryGetValue<string>(out var roleText) && CredentialRoles.TryParse(roleText, out role)))
            return Fail(id, "invalid_input", "role must be \"client\" or \"operator\"");
        var token = TokenHashing.NewUserToken();
        var result = await AskIdentityAsync(new IdentityCommands.CreateUserToken(Guid.NewGuid().ToString(), label, TokenHashing.Hash(token), clock.GetUtcNow(), role), ct)
            .ConfigureAwait(false);
        if (!result.IsOk) return Fail(id, result.Code.ToString(), result.Message);
        var json = TokenJson(result.UserToken!);
        json["token"] = token;
        return Ok(id, json);
    }

    private async Task<string> RevokeUserTokenAsync(JsonNode? id, JsonObject p, CancellationToken ct)
    {
        var tokenId = p["id"]?.GetValue<string>() ?? "";
        var result = await AskIdentityAsync(new IdentityCommands.RevokeUserToken(tokenId, clock.GetUtcNow()), ct).ConfigureAwait(false);
        return result.IsOk ? Ok(id, TokenJson(result.UserToken!)) : Fail(id, result.Code.ToString(), result.Message);
    }

    private string Show(JsonNode? id, JsonObject p)
    {
        var name = p["name"]?.GetValue<string>() ?? "";
        if (!directory.Current.Agents.TryGetValue(name, out var agent)) return Fail(id, "NotFound", $"agent '{name}' not found");
        var json = AgentJson(agent);
        json["workspace_path"] = Workspace.AgentPath;
        json["token_issued_at"] = agent.TokenIssuedAt?.ToString("O");
        json["revoked_at"] = agent.RevokedAt?.ToString("O");
        return Ok(id, json);
    }

    private string ListApprovals(JsonNode? id, JsonObject p)
    {
        ApprovalStatus? status = ApprovalStatus.Pending;
        if (p["status"]?.GetValue<string>() is { } s)
        {
            if (s == "all") status = null;
            else if (ApprovalStatusExtensions.TryParse(s, out var parsed)) status = parsed;
            else return Fail(id, "invalid_input", $"unknown status '{s}'");
        }
        var now = clock.GetUtcNow();
        return Ok(id, new JsonObject { ["approvals"] = new JsonArray([.. approvalIndex.List(status).Select(a => (JsonNode)ApprovalJson(a, now, false))]) });
    }

    private string ShowApproval(JsonNode? id, JsonObject p)
    {
        var text = p["id"]?.GetValue<string>();
        if (!ApprovalId.TryParse(text, out var approvalId) || approvalIndex.Get(approvalId) is not { } state)
            return Fail(id, "NotFound", $"approval '{text}' not found");
        return Ok(id, ApprovalJson(state, clock.GetUtcNow(), true));
    }

    // After a restart the index replays the journal; until then a listing would be partial and a known id
    // would look unknown, so approval methods wait for it (and fail closed if it does not finish in time).
    private async Task<bool> IndexLoadedAsync(CancellationToken ct)
    {
        try
        {
            await approvalIndex.Ready.WaitAsync(EdgeTimeout, ct).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static string IndexLoading(JsonNode? id) =>
        Fail(id, "ServiceUnavailable", "the approval queue is still loading after a restart; retry shortly");

    // kruxos audit rotate: the writer runs retention now (its maintenance child answers) and reports what it did.
    private async Task<string> RotateAuditAsync(JsonNode? id, CancellationToken ct)
    {
        var writer = await audit.GetAsync(ct).ConfigureAwait(false);
        RetentionResult result;
        try
        {
            result = await writer.Ask<RetentionResult>(AuditCommands.RunRetention.Instance, RotateTimeout, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.Text.Json.JsonException
                                      or Microsoft.Data.Sqlite.SqliteException)
        {
            return Fail(id, "audit_error", $"retention failed: {e.Message}");
        }
        return Ok(id, new JsonObject
        {
            ["retention_days"] = settings.Audit.RetentionDays,
            ["deleted"] = new JsonArray([.. result.Deleted.Select(f => (JsonNode)JsonValue.Create(f)!)]),
            ["warnings"] = new JsonArray([.. result.Warnings.Select(w => (JsonNode)JsonValue.Create(w)!)]),
            ["first_deletion_not_before"] = result.FirstDeletionNotBefore?.ToString("O", System.Globalization.CultureInfo.InvariantCulture),
        });
    }

    private async Task<string> DecideAsync(JsonNode? id, JsonObject p, bool approve, ApprovalDecider decider, CancellationToken ct)
    {
        if (!await IndexLoadedAsync(ct).ConfigureAwait(false)) return IndexLoading(id);
        var text = p["id"]?.GetValue<string>();
        // Unknown ids are answered from the index, so a typo never starts an entity.
        if (!ApprovalId.TryParse(text, out var approvalId) || approvalIndex.Get(approvalId) is null)
            return Fail(id, "NotFound", $"approval '{text}' not found");
        var reason = p["reason"]?.GetValue<string>() ?? "";
        if (reason.Length > 1000) return Fail(id, "invalid_input", "reason is longer than 1000 characters");
        var region = await approvals.GetAsync(ct).ConfigureAwait(false);
        var result = await region.Ask<ApprovalResult>(new ApprovalCommands.Decide(approvalId, approve, decider, reason, clock.GetUtcNow()), EdgeTimeout, ct)
            .ConfigureAwait(false);
        if (result.IsOk)
            return Ok(id, ApprovalJson(approvalIndex.Get(approvalId)!, clock.GetUtcNow(), true));
        if (result.Code == ApprovalResultCode.Forbidden)
            LogForbiddenDecision(approvalId.Value, decider.DecidedBy, decider.Role.ToWire(), decider.Surface.ToWire(), result.Message);
        var code = result.Code switch
        {
            ApprovalResultCode.NotFound => "NotFound",
            ApprovalResultCode.Conflict => "Conflict",
            ApprovalResultCode.Forbidden => "Forbidden",
            _ => "invalid_input",
        };
        return ControlProtocol.Fail(id, code, result.Message, new JsonObject { ["status"] = result.Status?.ToWire() });
    }

    /// <summary>The JSON view of an approval (CLI, REST, checkApproval).</summary>
    public static JsonObject ApprovalJson(ApprovalState a, DateTimeOffset now, bool details)
    {
        var r = a.Request!;
        var json = new JsonObject
        {
            ["id"] = r.Id.Value,
            ["status"] = a.Status.ToWire(),
            ["agent"] = r.Agent.Value,
            ["capability"] = r.Capability,
            ["arguments"] = JsonNode.Parse(r.Arguments.GetRawText()),
            ["requested_at"] = r.RequestedAt.ToString("O"),
            ["age_seconds"] = (long)Math.Max(0, (now - r.RequestedAt).TotalSeconds),
            ["deadline"] = r.Deadline.ToString("O"),
            ["initiating_client"] = r.Client.Initiating,
        };
        if (!details) return json;
        json["principal"] = r.Principal.ToString();
        json["session_id"] = r.SessionId;
        json["client"] = r.Client.Name;
        json["client_version"] = r.Client.Version;
        json["client_cli"] = r.Client.Cli;
        json["rule"] = r.Rule;
        json["policy_revision"] = r.PolicyRevision;
        json["reason"] = r.Reason;
        json["arguments_hash"] = r.ArgumentsHash;
        json["decided_by"] = a.Decision?.DecidedBy;
        json["decider"] = a.Decision?.Decider is { } d
            ? new JsonObject { ["name"] = d.Name, ["credential_type"] = d.Credential.ToWire(), ["role"] = d.Role.ToWire(), ["surface"] = d.Surface.ToWire() }
            : null;
        json["decided_at"] = a.Decision?.At.ToString("O");
        json["decision_reason"] = a.Decision?.Reason;
        json["grant_until"] = a.GrantUntil?.ToString("O");
        json["closed_at"] = a.ClosedAt?.ToString("O");
        json["closed_reason"] = a.ClosedReason;
        return json;
    }

    /// <summary>Writes a shipped template as <c>org.yaml</c> (backing up the previous one) and waits for the reload.</summary>
    private async Task<string> SetPolicyAsync(JsonNode? id, JsonObject p, CancellationToken ct)
    {
        var template = p["template"]?.GetValue<string>() ?? "";
        if (!PolicyTemplates.TryGet(template, out var yaml))
            return Fail(id, "invalid_input", $"no policy template '{template}'; known: {string.Join(", ", PolicyTemplates.Names)}");
        var org = Path.Combine(settings.PoliciesDir, "org.yaml");
        string? backup = null;
        if (File.Exists(org))
        {
            backup = $"{org}.bak-{clock.GetUtcNow():yyyyMMdd'T'HHmmss'Z'}";
            File.Copy(org, backup, overwrite: true);
        }
        PolicyDirectory.WriteAtomically(org, yaml);
        var loader = await policyLoader.GetAsync(ct).ConfigureAwait(false);
        var status = await loader.Ask<PolicyStatus>(PolicyStoreCommands.Reload.Instance, EdgeTimeout, ct).ConfigureAwait(false);
        var json = PolicyStatusJson(status);
        json["written"] = org;
        json["backup"] = backup;
        json["requested_template"] = template;
        json["in_force"] = status.Loaded && status.Errors.IsEmpty && status.Template == template;
        return Ok(id, json);
    }

    /// <summary>The decision the policy in force gives a call, with its hierarchy trace (rate ledger empty).</summary>
    private string CheckPolicy(JsonNode? id, JsonObject p)
    {
        var name = p["agent"]?.GetValue<string>();
        if (!AgentName.TryParse(name, out var agent, out var why)) return Fail(id, "invalid_input", why);
        var capabilityName = p["capability"]?.GetValue<string>();
        if (!catalog.Registry.TryResolve(capabilityName, out var capability))
            return Fail(id, "NotFound", $"no capability '{capabilityName}'");
        var args = p["args"] switch
        {
            null => CoreJson.EmptyObject,
            JsonObject o => System.Text.Json.JsonSerializer.SerializeToElement(o),
            _ => (System.Text.Json.JsonElement?)null,
        };
        if (args is null) return Fail(id, "invalid_input", "args must be a JSON object");
        if (!ArgumentValidator.TryValidate(capability, args, out var normalized, out var invalid))
            return Fail(id, "invalid_input", $"the arguments would be rejected before the policy is asked: {invalid!.Message}");
        var status = policies.Status;
        var decision = policies.Check(Principal.ForAgent(agent), capability, normalized, clock.GetUtcNow());
        var json = PolicyJson.Decision(decision);
        json["agent"] = agent.Value;
        json["agent_known"] = directory.Current.Agents.ContainsKey(agent.Value);
        json["capability"] = capability.Name.Value;
        json["policy_loaded"] = status.Loaded;
        return Ok(id, json);
    }

    /// <summary>
    /// <c>auth-socket.list</c> / <c>allow {uid}</c> / <c>revoke {uid}</c>: who besides root and the gateway's uid may mint
    /// credentials on the auth socket (ADR 0026). Answers the socket path and both lists.
    /// </summary>
    private string AuthSocket(JsonNode? id, string method, JsonObject p)
    {
        if (authSocket is null) return Fail(id, "unavailable", "the auth socket is not served by this node");
        AuthSocketAccess.Change? change = null;
        if (method != Methods.AuthSocketList)
        {
            if (p["uid"] is not JsonValue v || !v.TryGetValue<uint>(out var uid))
                return Fail(id, "invalid_input", "uid must be a non-negative integer (a user id)");
            change = method == Methods.AuthSocketAllow ? authSocket.Allow(uid) : authSocket.Revoke(uid);
            if (change.Error is { } why) return Fail(id, "invalid_input", why);
        }
        return Ok(id, new JsonObject
        {
            ["socket"] = authSocket.SocketPath,
            ["socket_mode"] = authSocket.SocketMode,
            ["changed"] = change?.Changed,
            ["configured"] = new JsonArray([.. authSocket.Configured.Order().Select(u => (JsonNode)JsonValue.Create(u))]),
            ["granted"] = new JsonArray([.. authSocket.Granted.Order().Select(u => (JsonNode)JsonValue.Create(u))]),
        });
    }

    /// <summary>The certificates served on the MCP port (status).</summary>
    private static JsonObject TlsJson(NodeCertificates certificates)
    {
        static JsonObject Served(ServedCertificate c) => new()
        {
            ["path"] = c.CertificatePath,
            ["names"] = new JsonArray([.. c.Names.DnsNames.Select(n => (JsonNode)JsonValue.Create(n)), .. c.Names.Addresses.Select(a => (JsonNode)JsonValue.Create(a.ToString()))]),
            ["not_after"] = c.NotAfter.ToString("O"),
            ["sha256"] = c.Fingerprint,
        };
        return new JsonObject
        {
            ["generated"] = Served(certificates.Generated),
            ["operator"] = certificates.Operator is { } op ? Served(op) : null,
            ["ca_certificate"] = certificates.PublishedAuthorityPath,
            ["ca_sha256"] = LocalAuthority.Fingerprint(certificates.Authority),
            ["health"] = certificates.Health().Message,
        };
    }

    private static JsonObject PolicyStatusJson(PolicyStatus s) => new()
    {
        ["loaded"] = s.Loaded,
        ["revision"] = s.Revision,
        ["template"] = s.Template,
        ["summary"] = s.Summary,
        ["source"] = s.Source,
        ["files"] = new JsonArray([.. s.Files.Select(f => (JsonNode)JsonValue.Create(f))]),
        ["loaded_at"] = s.LoadedAt?.ToString("O"),
        ["errors"] = PolicyJson.Diagnostics(s.Errors),
        ["rejected_revision"] = s.RejectedRevision,
        ["warnings"] = PolicyJson.Diagnostics(s.Warnings),
    };

    private async Task<IdentityResult> AskIdentityAsync(IIdentityCommand command, CancellationToken ct)
    {
        var registry = await identity.GetAsync(ct).ConfigureAwait(false);
        return await registry.Ask<IdentityResult>(command, EdgeTimeout, ct).ConfigureAwait(false);
    }

    private JsonObject AgentJson(AgentRecord a)
    {
        var act = activity.Of(a.Name);
        return new JsonObject
        {
            ["name"] = a.Name,
            ["purpose"] = a.Purpose,
            ["status"] = a.Status == AgentStatus.Revoked ? "revoked" : act.OpenSessions > 0 ? "active" : "idle",
            ["created_at"] = a.CreatedAt.ToString("O"),
            ["last_connected"] = act.LastConnected?.ToString("O"),
            ["open_sessions"] = act.OpenSessions,
            ["invocations"] = act.Invocations,
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a decision on approval {ApprovalId} by {DecidedBy} (role {Role}, {Surface}): {Reason}")]
    private partial void LogForbiddenDecision(string approvalId, string decidedBy, string role, string surface, string reason);

    private JsonObject TokenJson(UserTokenRecord t) => new()
    {
        ["id"] = t.Id,
        ["label"] = t.Label,
        ["status"] = t.Status == UserTokenStatus.Active ? "active" : "revoked",
        ["role"] = t.Role.ToWire(),
        ["created_at"] = t.CreatedAt.ToString("O"),
        ["revoked_at"] = t.RevokedAt?.ToString("O"),
        // In memory on this node since it started (UserTokenUsage): null means not used since then.
        ["last_used_at"] = usage?.LastUsed(t.Id)?.ToString("O"),
    };
}

/// <summary>The ports the listeners actually bound (they may be chosen at runtime).</summary>
public sealed class BoundAddresses
{
    private readonly TaskCompletionSource _recorded = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public int GatewayPort { get; set; }
    public int UserApiPort { get; set; }
    public int HealthPort { get; set; }

    /// <summary>Completes once the listeners' ports are known (after start).</summary>
    public Task Recorded => _recorded.Task;

    /// <summary>Marks the ports as known.</summary>
    public void MarkRecorded() => _recorded.TrySetResult();
}
