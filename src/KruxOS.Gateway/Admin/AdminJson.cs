using System.Globalization;
using System.Text.Json.Nodes;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Capabilities.Sandboxed;
using KruxOS.Actors.Health;
using KruxOS.Actors.Identity;
using KruxOS.Actors.Policy;
using KruxOS.Core.Approvals;
using KruxOS.Core.Identity;
using KruxOS.Core.Policy;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Hosting;
using KruxOS.Gateway.Tls;
using KruxOS.Sandbox.Mounts;

namespace KruxOS.Gateway.Admin;

/// <summary>
/// The JSON shapes of the admin records, shared by the control socket, the User API and the approval polls (MCP
/// <c>kruxos/checkApproval</c>, <c>/rpc approvals.check</c>). Property order and nulls are part of the public surface
/// (the CLI and scripts read them): <c>Admin/AdminGoldenSpecs</c> pins them byte for byte.
/// </summary>
public static class AdminJson
{
    /// <summary>An agent (<c>agent.list</c>, and the base of every agent answer).</summary>
    public static JsonObject Agent(AgentView view)
    {
        var (a, act) = (view.Agent, view.Activity);
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

    /// <summary>Every agent.</summary>
    public static JsonObject Agents(IEnumerable<AgentView> agents) => new() { ["agents"] = new JsonArray([.. agents.Select(a => (JsonNode)Agent(a))]) };

    /// <summary>One agent in detail (<c>agent.show</c>).</summary>
    public static JsonObject AgentDetails(AgentDetails details)
    {
        var json = Agent(details.View);
        json["workspace_path"] = details.WorkspacePath;
        json["token_issued_at"] = details.View.Agent.TokenIssuedAt?.ToString("O");
        json["revoked_at"] = details.View.Agent.RevokedAt?.ToString("O");
        return json;
    }

    /// <summary>An agent with its new token (shown once).</summary>
    public static JsonObject AgentIssued(AgentIssued issued)
    {
        var json = Agent(issued.Agent);
        json["token"] = issued.Token;
        return json;
    }

    /// <summary>A revoked agent.</summary>
    public static JsonObject AgentRevocation(AgentRevocation revoked)
    {
        var json = Agent(revoked.Agent);
        json["sandbox_stopped"] = revoked.SandboxStopped;
        return json;
    }

    /// <summary>What a kill ended.</summary>
    public static JsonObject Kill(KillResult kill) =>
        new() { ["agent"] = kill.Agent, ["connections_closed"] = kill.ConnectionsClosed, ["processes_stopped"] = kill.ProcessesStopped };

    /// <summary>A user token (never its secret).</summary>
    public static JsonObject Token(TokenView view)
    {
        var t = view.Token;
        return new JsonObject
        {
            ["id"] = t.Id,
            ["label"] = t.Label,
            ["status"] = t.Status == UserTokenStatus.Active ? "active" : "revoked",
            ["role"] = t.Role.ToWire(),
            ["created_at"] = t.CreatedAt.ToString("O"),
            ["revoked_at"] = t.RevokedAt?.ToString("O"),
            // In memory on this node since it started (UserTokenUsage): null means not used since then.
            ["last_used_at"] = view.LastUsedAt?.ToString("O"),
        };
    }

    /// <summary>Every user token.</summary>
    public static JsonObject Tokens(IEnumerable<TokenView> tokens) => new() { ["tokens"] = new JsonArray([.. tokens.Select(t => (JsonNode)Token(t))]) };

    /// <summary>A user token with its secret (shown once).</summary>
    public static JsonObject TokenIssued(TokenIssued issued)
    {
        var json = Token(issued.Token);
        json["token"] = issued.Secret;
        return json;
    }

    /// <summary>An approval as of the view's time; <paramref name="details"/> adds who asked, the rule, and the decision.</summary>
    public static JsonObject Approval(ApprovalView view, bool details) => Approval(view.State, view.AsOf, details);

    /// <summary>The JSON view of an approval (CLI, REST, checkApproval).</summary>
    public static JsonObject Approval(ApprovalState a, DateTimeOffset now, bool details)
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

    /// <summary>A list of approvals (summaries).</summary>
    public static JsonObject Approvals(IEnumerable<ApprovalView> approvals) =>
        new() { ["approvals"] = new JsonArray([.. approvals.Select(a => (JsonNode)Approval(a, false))]) };

    /// <summary>The policy in force (in a cluster also its cluster <c>generation</c>, ADR 0059).</summary>
    public static JsonObject PolicyStatus(PolicyStatus s)
    {
        var json = PolicyStatusFields(s);
        if (s.Generation is { } generation) json["generation"] = generation;
        return json;
    }

    private static JsonObject PolicyStatusFields(PolicyStatus s) => new()
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

    /// <summary>What <c>policy.set</c> did.</summary>
    public static JsonObject PolicySet(PolicySetResult r)
    {
        var json = PolicyStatus(r.Status);
        json["written"] = r.Written;
        json["backup"] = r.Backup;
        json["requested_template"] = r.RequestedTemplate;
        json["in_force"] = r.InForce;
        return json;
    }

    /// <summary>A dry-run decision with its trace.</summary>
    public static JsonObject PolicyCheck(PolicyCheckResult r)
    {
        var json = PolicyJson.Decision(r.Decision);
        json["agent"] = r.Agent.Value;
        json["agent_known"] = r.AgentKnown;
        json["capability"] = r.Capability.Value;
        json["policy_loaded"] = r.PolicyLoaded;
        return json;
    }

    /// <summary>A host mount.</summary>
    public static JsonObject Mount(MountEntry e) => new()
    {
        ["agent"] = e.Agent,
        ["label"] = e.Label,
        ["source"] = e.Source,
        ["target"] = e.Target,
        ["read_only"] = e.ReadOnly,
    };

    /// <summary>An agent's mounts.</summary>
    public static JsonObject Mounts(IEnumerable<MountEntry> mounts) => new() { ["mounts"] = new JsonArray([.. mounts.Select(m => (JsonNode)Mount(m))]) };

    /// <summary>A removed mount.</summary>
    public static JsonObject MountRemoved(MountRemoved r) => new() { ["agent"] = r.Agent, ["label"] = r.Label, ["removed"] = true };

    /// <summary>What a retention run did.</summary>
    public static JsonObject Retention(RetentionReport r) => new()
    {
        ["retention_days"] = r.RetentionDays,
        ["deleted"] = new JsonArray([.. r.Result.Deleted.Select(f => (JsonNode)JsonValue.Create(f)!)]),
        ["warnings"] = new JsonArray([.. r.Result.Warnings.Select(w => (JsonNode)JsonValue.Create(w)!)]),
        ["first_deletion_not_before"] = r.Result.FirstDeletionNotBefore?.ToString("O", CultureInfo.InvariantCulture),
    };

    /// <summary>The node's status (with its <c>cluster</c> view when the node is a cluster member).</summary>
    public static JsonObject Status(NodeStatusReport s)
    {
        var json = NodeStatus(s);
        if (s.Cluster is { Enabled: true } cluster) json["cluster"] = Cluster(cluster);
        return json;
    }

    /// <summary>The cluster as a node sees it (<c>cluster.status</c>, <c>/health</c>, <c>status</c>).</summary>
    public static JsonObject Cluster(KruxOS.Actors.Cluster.ClusterStatusReport c) => new()
    {
        ["enabled"] = c.Enabled,
        ["self"] = c.Self,
        ["self_status"] = c.SelfStatus,
        ["leader"] = c.Leader,
        ["members"] = new JsonArray([.. c.Members.Select(m => (JsonNode)new JsonObject
        {
            ["address"] = m.Address,
            ["status"] = m.Status,
            ["roles"] = new JsonArray([.. m.Roles.Select(r => (JsonNode)JsonValue.Create(r))]),
            ["reachable"] = m.Reachable,
            ["self"] = m.IsSelf,
            ["leader"] = m.IsLeader,
            ["oldest"] = m.IsOldest,
        })]),
        ["shards"] = new JsonArray([.. c.Shards.Select(d => (JsonNode)new JsonObject
        {
            ["type"] = d.TypeName,
            ["by_node"] = new JsonObject(d.ShardsByNode.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)kv.Value))),
            ["shard_ids"] = new JsonObject((d.ShardIdsByNode ?? System.Collections.Immutable.ImmutableDictionary<string, System.Collections.Immutable.ImmutableArray<string>>.Empty).OrderBy(kv => kv.Key, StringComparer.Ordinal)
                .Select(kv => KeyValuePair.Create(kv.Key, (JsonNode?)new JsonArray([.. kv.Value.Select(id => (JsonNode)JsonValue.Create(id))])))),
            ["error"] = d.Error,
        })]),
        ["lease"] = c.Lease,
        ["split_brain_strategy"] = c.SplitBrainStrategy,
        ["downing_stable_after_seconds"] = c.DowningStableAfter?.TotalSeconds,
    };

    private static JsonObject NodeStatus(NodeStatusReport s) => new()
    {
        ["version"] = s.Version,
        ["uptime_seconds"] = s.UptimeSeconds,
        ["data_dir"] = s.DataDir,
        ["gateway"] = new JsonObject { ["bind"] = s.Bind, ["port"] = s.GatewayPort, ["mcp"] = s.Endpoints?.Mcp ?? $"ws://{s.Bind}:{s.GatewayPort}/mcp" },
        ["endpoints"] = s.Endpoints?.ToJson(),
        ["tls"] = s.Certificates is null ? null : Tls(s.Certificates),
        ["health_port"] = s.HealthPort,
        ["user_api_port"] = s.UserApiPort,
        ["clustering"] = s.Clustering,
        ["health"] = s.Health.Status.ToWire(),
        ["services"] = new JsonArray([.. s.Health.Services.Select(h => (JsonNode)new JsonObject { ["name"] = h.Name, ["status"] = h.Status.ToWire(), ["details"] = h.Message })]),
        ["agents"] = new JsonObject { ["total"] = s.Agents.Total, ["active"] = s.Agents.Active, ["revoked"] = s.Agents.Revoked },
        ["active_sessions"] = s.ActiveSessions,
        ["total_invocations"] = s.TotalInvocations,
        ["capabilities"] = s.Capabilities,
        ["policy"] = s.Policy.Summary,
        ["policy_revision"] = s.Policy.Revision,
        ["approval_queue"] = new JsonObject { ["pending"] = s.PendingApprovals },
        ["telemetry"] = s.Telemetry is not { } t ? null : new JsonObject
        {
            ["metrics"] = t.Metrics,
            ["otlp"] = t.OtlpEndpoint is null ? null : new JsonObject { ["endpoint"] = t.OtlpEndpoint, ["protocol"] = t.OtlpProtocol },
        },
    };

    /// <summary>What <c>verify</c> found.</summary>
    public static JsonObject Verify(VerifyReport r) => new()
    {
        ["checks"] = new JsonArray([.. r.Checks.Select(c => (JsonNode)new JsonObject { ["name"] = c.Name, ["pass"] = c.Pass, ["detail"] = c.Detail })]),
        ["passed"] = r.Passed,
    };

    /// <summary>Who may use the auth socket (<c>auth-socket.*</c>).</summary>
    public static JsonObject AuthSocket(AuthSocketAccess access, AuthSocketAccess.Change? change) => new()
    {
        ["socket"] = access.SocketPath,
        ["socket_mode"] = access.SocketMode,
        ["changed"] = change?.Changed,
        ["configured"] = new JsonArray([.. access.Configured.Order().Select(u => (JsonNode)JsonValue.Create(u))]),
        ["granted"] = new JsonArray([.. access.Granted.Order().Select(u => (JsonNode)JsonValue.Create(u))]),
    };

    /// <summary>The certificates served on the MCP port (status).</summary>
    private static JsonObject Tls(NodeCertificates certificates)
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

    /// <summary>Alerts, newest first (<c>alerts.list</c>): the shape of the <c>alerts.list</c> capability.</summary>
    public static JsonObject Alerts(KruxOS.Core.Alerts.AlertReplies.ListResult list) => new()
    {
        ["alerts"] = new JsonArray([.. list.Alerts.Select(a =>
            System.Text.Json.JsonSerializer.SerializeToNode(KruxOS.Actors.Capabilities.AlertsCategory.AlertsJson.Listed(a), KruxOS.Core.CoreJson.Options))]),
        ["total"] = list.Total,
    };

    /// <summary>An acknowledgement (<c>alerts.ack</c>).</summary>
    public static JsonObject AlertAcknowledged(KruxOS.Core.Alerts.AlertReplies.AcknowledgeResult r) =>
        new() { ["alert_id"] = r.AlertId, ["acknowledged"] = r.Acknowledged };

    /// <summary>A pause or resume (<c>session.pause</c>, <c>session.resume</c>).</summary>
    public static JsonObject Pause(KruxOS.Core.Pauses.PauseReplies.PauseResult r) =>
        new() { ["agent"] = r.Agent, ["paused"] = r.Paused, ["changed"] = r.Changed };
}
