using System.Net.Http.Headers;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.Actors.Policy;
using KruxOS.Core.Control;
using KruxOS.Gateway.Control;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Admin;

/// <summary>
/// The admin surfaces pinned byte for byte (issue 15, WP-D): every control-socket method (a success and each error it can
/// reach) and every User API route (2xx, 400, 401, 403, 404, 409), scripted against one real gateway. Volatile values
/// (timestamps, tokens, approval ids, GUIDs, uptime, ports, paths) are normalised; everything else — property order,
/// nulls, error <c>type</c> strings, messages, HTTP status codes — must equal <c>Golden/*.jsonl</c>.
/// Set <c>KRUXOS_GOLDEN_UPDATE=1</c> to record them again (only on purpose: the files are the contract).
/// </summary>
public sealed partial class AdminGoldenSpecs
{
    private const string Holder = "holder";

    [Fact]
    public async Task Should_answer_every_control_method_and_user_api_route_exactly_as_recorded()
    {
        // arrange: a gateway whose agent "holder" has system.time held for approval
        var dataDir = TestPolicies.DataDirWithAgentPolicy("kruxos-golden-", Holder);
        await using var gw = await TestGateway.StartAsync(dataDir);
        // the recorded status is a settled node's: every area done loading from the journal
        var settled = await gw.HealthWhenHealthyAsync();
        Assert.True(settled["status"]!.GetValue<string>() == "healthy", settled.ToJsonString());
        var transcript = new Transcript(gw);
        var mountSource = Directory.CreateTempSubdirectory("kruxos-golden-mount-").FullName;
        transcript.Volatile(mountSource, "<mount-source>");
        try
        {
            // act: the control socket, then the User API
            await ScriptControlAsync(gw, transcript, mountSource);
            await ScriptUserApiAsync(gw, transcript);
            await ScriptStateControlAsync(transcript);
        }
        finally
        {
            Directory.Delete(mountSource, recursive: true);
        }

        // assert
        transcript.Compare("control", transcript.Control);
        transcript.Compare("user-api", transcript.Http);
    }

    private static async Task ScriptControlAsync(TestGateway gw, Transcript t, string mountSource)
    {
        // agents
        await t.ControlAsync("agent.create ok", Methods.AgentCreate, new() { ["name"] = "alpha", ["purpose"] = "golden" });
        await t.ControlAsync("agent.create no purpose", Methods.AgentCreate, new() { ["name"] = Holder });
        await t.ControlAsync("agent.create invalid name", Methods.AgentCreate, new() { ["name"] = "Not A Name" });
        await t.ControlAsync("agent.create missing name", Methods.AgentCreate, new());
        await t.ControlAsync("agent.create duplicate", Methods.AgentCreate, new() { ["name"] = "alpha" });
        await t.ControlAsync("agent.create wrong type", Methods.AgentCreate, new() { ["name"] = 5 });
        await t.ControlAsync("agent.list", Methods.AgentList, new());
        await t.ControlAsync("agent.show ok", Methods.AgentShow, new() { ["name"] = "alpha" });
        await t.ControlAsync("agent.show unknown", Methods.AgentShow, new() { ["name"] = "nobody" });
        await t.ControlAsync("agent.show missing name", Methods.AgentShow, new());
        await t.ControlAsync("agent.rotate ok", Methods.AgentRotate, new() { ["name"] = "alpha" });
        await t.ControlAsync("agent.rotate unknown", Methods.AgentRotate, new() { ["name"] = "nobody" });
        await t.ControlAsync("agent.restore active", Methods.AgentRestore, new() { ["name"] = "alpha" });
        await t.ControlAsync("session.kill ok", Methods.Kill, new() { ["name"] = "alpha" });
        await t.ControlAsync("session.kill invalid", Methods.Kill, new() { ["name"] = "Bad Name" });
        await t.ControlAsync("session.kill unknown", Methods.Kill, new() { ["name"] = "nobody" });
        await t.ControlAsync("agent.create doomed", Methods.AgentCreate, new() { ["name"] = "doomed", ["purpose"] = "revoked below" });
        await t.ControlAsync("agent.revoke ok", Methods.AgentRevoke, new() { ["name"] = "doomed" });
        await t.ControlAsync("agent.revoke again", Methods.AgentRevoke, new() { ["name"] = "doomed" });
        await t.ControlAsync("agent.revoke unknown", Methods.AgentRevoke, new() { ["name"] = "nobody" });
        await t.ControlAsync("agent.show revoked", Methods.AgentShow, new() { ["name"] = "doomed" });
        await t.ControlAsync("agent.restore ok", Methods.AgentRestore, new() { ["name"] = "doomed" });
        await t.ControlAsync("agent.restore unknown", Methods.AgentRestore, new() { ["name"] = "nobody" });

        // user tokens
        await t.ControlAsync("user-token.create client", Methods.UserTokenCreate, new() { ["label"] = "viewer" });
        await t.ControlAsync("user-token.create operator", Methods.UserTokenCreate, new() { ["label"] = "ops", ["role"] = "operator" });
        await t.ControlAsync("user-token.create bad role", Methods.UserTokenCreate, new() { ["label"] = "x", ["role"] = "root" });
        await t.ControlAsync("user-token.create role wrong type", Methods.UserTokenCreate, new() { ["label"] = "x", ["role"] = 1 });
        await t.ControlAsync("user-token.create empty label", Methods.UserTokenCreate, new() { ["label"] = "" });
        await t.ControlAsync("user-token.create doomed", Methods.UserTokenCreate, new() { ["label"] = "doomed" });
        var doomed = t.LastResult!["id"]!.GetValue<string>();
        await t.ControlAsync("user-token.revoke ok", Methods.UserTokenRevoke, new() { ["id"] = doomed });
        await t.ControlAsync("user-token.revoke again", Methods.UserTokenRevoke, new() { ["id"] = doomed });
        await t.ControlAsync("user-token.revoke unknown", Methods.UserTokenRevoke, new() { ["id"] = "no-such-token" });
        await t.ControlAsync("user-token.list", Methods.UserTokenList, new());

        // status and verify (before any call, so the counters are fixed)
        await t.ControlAsync("status", Methods.Status, new());
        await t.ControlAsync("verify", Methods.Verify, new());

        // policy
        await t.ControlAsync("policy.show", Methods.PolicyShow, new());
        await t.ControlAsync("policy.check ok", Methods.PolicyCheck, new() { ["agent"] = "alpha", ["capability"] = "system.time" });
        await t.ControlAsync("policy.check held", Methods.PolicyCheck, new() { ["agent"] = Holder, ["capability"] = "system.time", ["args"] = new JsonObject { ["timezone"] = "UTC" } });
        await t.ControlAsync("policy.check unknown agent", Methods.PolicyCheck, new() { ["agent"] = "stranger", ["capability"] = "filesystem.read", ["args"] = new JsonObject { ["path"] = "a.txt" } });
        await t.ControlAsync("policy.check invalid agent", Methods.PolicyCheck, new() { ["agent"] = "Bad Agent", ["capability"] = "system.time" });
        await t.ControlAsync("policy.check unknown capability", Methods.PolicyCheck, new() { ["agent"] = "alpha", ["capability"] = "system.nope" });
        await t.ControlAsync("policy.check args not object", Methods.PolicyCheck, new() { ["agent"] = "alpha", ["capability"] = "system.time", ["args"] = new JsonArray() });
        await t.ControlAsync("policy.check invalid args", Methods.PolicyCheck, new() { ["agent"] = "alpha", ["capability"] = "filesystem.read", ["args"] = new JsonObject() });
        await t.ControlAsync("policy.set unknown", Methods.PolicySet, new() { ["template"] = "nonsense" });
        await t.ControlAsync("policy.set ok", Methods.PolicySet, new() { ["template"] = "personal-permissive" });
        await t.ControlAsync("policy.set again (backup)", Methods.PolicySet, new() { ["template"] = "personal-permissive" });

        // mounts
        await t.ControlAsync("mount.add ok", Methods.MountAdd, new() { ["agent"] = "alpha", ["source"] = mountSource, ["label"] = "data", ["read_only"] = true });
        await t.ControlAsync("mount.add bad target", Methods.MountAdd, new() { ["agent"] = "alpha", ["source"] = mountSource, ["label"] = "data", ["target"] = "/etc" });
        await t.ControlAsync("mount.add invalid agent", Methods.MountAdd, new() { ["agent"] = "Bad Agent", ["source"] = mountSource, ["label"] = "x" });
        await t.ControlAsync("mount.add relative source", Methods.MountAdd, new() { ["agent"] = "alpha", ["source"] = "relative/dir", ["label"] = "rel" });
        await t.ControlAsync("mount.add missing source", Methods.MountAdd, new() { ["agent"] = "alpha", ["source"] = Path.Combine(mountSource, "absent"), ["label"] = "gone" });
        await t.ControlAsync("mount.add bad label", Methods.MountAdd, new() { ["agent"] = "alpha", ["source"] = mountSource, ["label"] = "../up" });
        await t.ControlAsync("mount.list", Methods.MountList, new() { ["agent"] = "alpha" });
        await t.ControlAsync("mount.remove unknown", Methods.MountRemove, new() { ["agent"] = "alpha", ["label"] = "nope" });
        await t.ControlAsync("mount.remove ok", Methods.MountRemove, new() { ["agent"] = "alpha", ["label"] = "data" });

        // audit
        await t.ControlAsync("audit.rotate", Methods.AuditRotate, new());

        // auth socket grants
        await t.ControlAsync("auth-socket.list", Methods.AuthSocketList, new());
        await t.ControlAsync("auth-socket.allow", Methods.AuthSocketAllow, new() { ["uid"] = 4242 });
        await t.ControlAsync("auth-socket.allow again", Methods.AuthSocketAllow, new() { ["uid"] = 4242 });
        await t.ControlAsync("auth-socket.revoke", Methods.AuthSocketRevoke, new() { ["uid"] = 4242 });
        await t.ControlAsync("auth-socket.allow bad uid", Methods.AuthSocketAllow, new() { ["uid"] = -1 });
        await t.ControlAsync("auth-socket.allow root", Methods.AuthSocketAllow, new() { ["uid"] = 0 });

        // vault (passphrases and values go in; no answer ever carries one)
        await t.ControlAsync("vault.status uninitialised", Methods.VaultStatus, new());
        await t.ControlAsync("vault.unlock uninitialised", Methods.VaultUnlock, new() { ["passphrase"] = "golden passphrase 1" });
        await t.ControlAsync("vault.add uninitialised", Methods.VaultAdd, new() { ["name"] = "stripe", ["type"] = "api_key", ["value"] = GoldenValue });
        await t.ControlAsync("vault.init weak", Methods.VaultInit, new() { ["passphrase"] = "short" });
        await t.ControlAsync("vault.init missing", Methods.VaultInit, new());
        await t.ControlAsync("vault.init ok", Methods.VaultInit, new() { ["passphrase"] = "golden passphrase 1" });
        await t.ControlAsync("vault.init again", Methods.VaultInit, new() { ["passphrase"] = "golden passphrase 1" });
        await t.ControlAsync("vault.add ok", Methods.VaultAdd, new()
        {
            ["name"] = "stripe", ["type"] = "api_key", ["allowed_capabilities"] = new JsonArray("network.credentialed_request"),
            ["allowed_hosts"] = new JsonArray("api.stripe.com"), ["value"] = GoldenValue,
        });
        await t.ControlAsync("vault.add duplicate", Methods.VaultAdd, new() { ["name"] = "Stripe", ["type"] = "api_key", ["value"] = GoldenValue });
        await t.ControlAsync("vault.add managed name", Methods.VaultAdd, new() { ["name"] = "user/token/x", ["type"] = "api_key", ["value"] = GoldenValue });
        await t.ControlAsync("vault.add bad type", Methods.VaultAdd, new() { ["name"] = "other", ["type"] = "password", ["value"] = GoldenValue });
        await t.ControlAsync("vault.add no value", Methods.VaultAdd, new() { ["name"] = "other", ["type"] = "api_key" });
        await t.ControlAsync("vault.add short value", Methods.VaultAdd, new() { ["name"] = "other", ["type"] = "api_key", ["value"] = "abc" });
        await t.ControlAsync("vault.add bad host", Methods.VaultAdd, new() { ["name"] = "other", ["type"] = "api_key", ["allowed_hosts"] = "http://x/", ["value"] = GoldenValue });
        await t.ControlAsync("vault.rotate ok", Methods.VaultRotate, new() { ["name"] = "stripe", ["value"] = GoldenValue + "-2" });
        await t.ControlAsync("vault.rotate unknown", Methods.VaultRotate, new() { ["name"] = "nope", ["value"] = GoldenValue });
        await t.ControlAsync("vault.list", Methods.VaultList, new());
        await t.ControlAsync("vault.lock", Methods.VaultLock, new());
        await t.ControlAsync("vault.add locked", Methods.VaultAdd, new() { ["name"] = "other", ["type"] = "api_key", ["value"] = GoldenValue });
        await t.ControlAsync("vault.unlock wrong", Methods.VaultUnlock, new() { ["passphrase"] = "not the passphrase" });
        await t.ControlAsync("vault.unlock ok", Methods.VaultUnlock, new() { ["passphrase"] = "golden passphrase 1" });
        await t.ControlAsync("vault.revoke ok", Methods.VaultRevoke, new() { ["name"] = "stripe", ["reason"] = "golden" });
        await t.ControlAsync("vault.revoke unknown", Methods.VaultRevoke, new() { ["name"] = "nope" });
        await t.ControlAsync("vault.rotate revoked", Methods.VaultRotate, new() { ["name"] = "stripe", ["value"] = GoldenValue });
        await t.ControlAsync("vault.list include revoked", Methods.VaultList, new() { ["include_revoked"] = true });
        await t.ControlAsync("vault.status", Methods.VaultStatus, new());

        // backups (the vault is unlocked above; ids, sizes and the data directory are normalised)
        t.Volatile(gw.DataDir, "<data-dir>");
        await t.ControlAsync("backup.list empty", Methods.BackupList, new());
        await t.ControlAsync("backup.create agent", Methods.BackupCreate, new() { ["agent"] = "alpha" });
        var backupId = t.LastResult!["backup_id"]!.GetValue<string>();
        await t.ControlAsync("backup.create invalid agent", Methods.BackupCreate, new() { ["agent"] = "Bad Agent" });
        await t.ControlAsync("backup.create full", Methods.BackupCreate, new());
        await t.ControlAsync("backup.list", Methods.BackupList, new());
        await t.ControlAsync("backup.verify ok", Methods.BackupVerify, new() { ["backup_id"] = backupId });
        await t.ControlAsync("backup.verify malformed", Methods.BackupVerify, new() { ["backup_id"] = "../x" });
        await t.ControlAsync("backup.verify unknown", Methods.BackupVerify, new() { ["backup_id"] = "bkp-20000101T000000" });
        await t.ControlAsync("backup.verify wrong passphrase", Methods.BackupVerify, new() { ["backup_id"] = backupId, ["passphrase"] = "not the passphrase" });
        await t.ControlAsync("backup.restore ok", Methods.BackupRestore, new() { ["backup_id"] = backupId });
        await t.ControlAsync("backup.restore unknown", Methods.BackupRestore, new() { ["backup_id"] = "bkp-20000101T000000" });
        await t.ControlAsync("backup.restore agent not in it", Methods.BackupRestore, new() { ["backup_id"] = backupId, ["agent"] = "nobody" });
        await t.ControlAsync("backup.export ok", Methods.BackupExport, new() { ["backup_id"] = backupId });
        await t.ControlAsync("backup.export malformed", Methods.BackupExport, new() { ["backup_id"] = "bkp-x/../../y" });

        // approvals: two held calls of the agent "holder" (policy.set above left its agent file in force)
        await t.ControlAsync("approval.list empty", Methods.ApprovalList, new());
        var holderToken = (await gw.ControlAsync(Methods.AgentRotate, new JsonObject { ["name"] = Holder }))["token"]!.GetValue<string>();
        var first = await HeldRpcCall.StartAsync(gw, holderToken, "UTC");
        var second = await HeldRpcCall.StartAsync(gw, holderToken, "Europe/Paris");
        t.Volatile(first, "<approval-1>");
        t.Volatile(second, "<approval-2>");
        await t.ControlAsync("approval.list pending", Methods.ApprovalList, new());
        await t.ControlAsync("approval.list bad status", Methods.ApprovalList, new() { ["status"] = "sideways" });
        await t.ControlAsync("approval.show ok", Methods.ApprovalShow, new() { ["id"] = first });
        await t.ControlAsync("approval.show unknown", Methods.ApprovalShow, new() { ["id"] = "appr-0000000000000000" });
        await t.ControlAsync("approval.show malformed", Methods.ApprovalShow, new() { ["id"] = "nope" });
        await t.ControlAsync("approval.approve reason too long", Methods.ApprovalApprove, new() { ["id"] = first, ["reason"] = new string('r', 1001) });
        await t.ControlAsync("approval.approve unknown", Methods.ApprovalApprove, new() { ["id"] = "nope" });
        await t.ControlAsync("approval.approve ok", Methods.ApprovalApprove, new() { ["id"] = first, ["reason"] = "looks fine" });
        await t.ControlAsync("approval.reject decided", Methods.ApprovalReject, new() { ["id"] = first });
        await t.ControlAsync("approval.reject ok", Methods.ApprovalReject, new() { ["id"] = second });
        await t.ControlAsync("approval.list approved", Methods.ApprovalList, new() { ["status"] = "approved" });
        await t.ControlAsync("approval.list all", Methods.ApprovalList, new() { ["status"] = "all" });

        // service proxy (no adapter registered in this gateway)
        await t.ControlAsync("proxy.status", Methods.ProxyStatus, new());
        await t.ControlAsync("proxy.writes", Methods.ProxyWrites, new());
        await t.ControlAsync("proxy.writes bad filter", Methods.ProxyWrites, new() { ["status"] = "sideways" });
        await t.ControlAsync("proxy.writes bad service", Methods.ProxyWrites, new() { ["service"] = "../etc" });
        await t.ControlAsync("proxy.cancel unknown", Methods.ProxyCancel, new() { ["id"] = "wr-0000000000000000000000000000000a" });
        await t.ControlAsync("proxy.cancel malformed", Methods.ProxyCancel, new() { ["id"] = "nope" });
        await t.ControlAsync("proxy.retry unknown", Methods.ProxyRetry, new() { ["id"] = "wr-0000000000000000000000000000000a" });
        await t.ControlAsync("proxy.discard missing id", Methods.ProxyDiscard, new());
        await t.ControlAsync("proxy.rollback unknown", Methods.ProxyRollback, new() { ["id"] = "wr-0000000000000000000000000000000a" });
        await t.ControlAsync("proxy.rollback malformed", Methods.ProxyRollback, new() { ["id"] = "../../etc" });
        await t.ControlAsync("proxy.connect unknown service", Methods.ProxyConnect, new() { ["service"] = "nosuch", ["secret"] = "xoxb-not-echoed" });
        await t.ControlAsync("proxy.connect bad service", Methods.ProxyConnect, new() { ["service"] = "../x" });
        await t.ControlAsync("proxy.disconnect unknown service", Methods.ProxyDisconnect, new() { ["service"] = "nosuch" });

        // protocol level, the last ones through the real socket
        await t.ControlAsync("unknown method", "agent.dance", new());
        await t.SocketAsync("socket: not json", ["{nope"]);
        await t.SocketAsync("socket: params not object", ["""{"id":7,"method":"agent.list","params":[1]}"""]);
        await t.SocketAsync("socket: id echoed", ["""{"id":"x-1","method":"agent.show","params":{"name":"nobody"}}"""]);
        await t.SocketAsync("socket: watch", ["""{"id":9,"method":"watch","params":{"agent":"alpha"}}"""]);
    }

    // After the User API script: a shared write changes the shared-state grant that the status line's health reports.
    private static async Task ScriptStateControlAsync(Transcript t)
    {
        // agent state: operator reads and audited writes through the agents' own entities
        await t.ControlAsync("state.set ok", Methods.StateSet, new() { ["agent"] = "alpha", ["key"] = "notes/plan", ["value"] = new JsonObject { ["step"] = 1 } });
        await t.ControlAsync("state.set again", Methods.StateSet, new() { ["agent"] = "alpha", ["key"] = "notes/plan", ["value"] = "two" });
        await t.ControlAsync("state.set null value", Methods.StateSet, new() { ["agent"] = "alpha", ["key"] = "empty", ["value"] = null });
        await t.ControlAsync("state.set no value", Methods.StateSet, new() { ["agent"] = "alpha", ["key"] = "x" });
        await t.ControlAsync("state.set bad key", Methods.StateSet, new() { ["agent"] = "alpha", ["key"] = " padded", ["value"] = 1 });
        await t.ControlAsync("state.set unknown agent", Methods.StateSet, new() { ["agent"] = "nobody", ["key"] = "x", ["value"] = 1 });
        await t.ControlAsync("state.set invalid agent", Methods.StateSet, new() { ["agent"] = "Bad Agent", ["key"] = "x", ["value"] = 1 });
        await t.ControlAsync("state.get ok", Methods.StateGet, new() { ["agent"] = "alpha", ["key"] = "notes/plan" });
        await t.ControlAsync("state.get version", Methods.StateGet, new() { ["agent"] = "alpha", ["key"] = "notes/plan", ["version"] = 1 });
        await t.ControlAsync("state.get pruned version", Methods.StateGet, new() { ["agent"] = "alpha", ["key"] = "notes/plan", ["version"] = 9 });
        await t.ControlAsync("state.get absent", Methods.StateGet, new() { ["agent"] = "alpha", ["key"] = "absent" });
        await t.ControlAsync("state.list", Methods.StateList, new() { ["agent"] = "alpha" });
        await t.ControlAsync("state.list prefix", Methods.StateList, new() { ["agent"] = "alpha", ["prefix"] = "notes/" });
        await t.ControlAsync("state.quota", Methods.StateQuota, new() { ["agent"] = "alpha" });
        await t.ControlAsync("state.delete ok", Methods.StateDelete, new() { ["agent"] = "alpha", ["key"] = "empty" });
        await t.ControlAsync("state.delete absent", Methods.StateDelete, new() { ["agent"] = "alpha", ["key"] = "empty" });
        await t.ControlAsync("state.shared.set create", Methods.StateSharedSet, new() { ["key"] = "team/status", ["value"] = "green", ["expected_version"] = 0 });
        await t.ControlAsync("state.shared.set conflict", Methods.StateSharedSet, new() { ["key"] = "team/status", ["value"] = "red", ["expected_version"] = 0 });
        await t.ControlAsync("state.shared.set no expected", Methods.StateSharedSet, new() { ["key"] = "team/status", ["value"] = "red" });
        await t.ControlAsync("state.shared.get ok", Methods.StateSharedGet, new() { ["key"] = "team/status" });
        await t.ControlAsync("state.shared.list", Methods.StateSharedList, new());
        await t.ControlAsync("state.shared.delete ok", Methods.StateSharedDelete, new() { ["key"] = "team/status" });
        await t.ControlAsync("state.shared.delete absent", Methods.StateSharedDelete, new() { ["key"] = "team/status" });
    }

    private static async Task ScriptUserApiAsync(TestGateway gw, Transcript t)
    {
        var client = (await gw.ControlAsync(Methods.UserTokenCreate, new JsonObject { ["label"] = "api-client" }))["token"]!.GetValue<string>();
        var op = (await gw.ControlAsync(Methods.UserTokenCreate, new JsonObject { ["label"] = "api-ops", ["role"] = "operator" }))["token"]!.GetValue<string>();
        var agentToken = (await gw.ControlAsync(Methods.AgentRotate, new JsonObject { ["name"] = "alpha" }))["token"]!.GetValue<string>();
        var holderToken = (await gw.ControlAsync(Methods.AgentRotate, new JsonObject { ["name"] = Holder }))["token"]!.GetValue<string>();
        var third = await HeldRpcCall.StartAsync(gw, holderToken, "Asia/Tokyo");
        var fourth = await HeldRpcCall.StartAsync(gw, holderToken, "America/Chicago");
        var fifth = await HeldRpcCall.StartAsync(gw, holderToken, "Africa/Cairo");
        t.Volatile(third, "<approval-3>");
        t.Volatile(fourth, "<approval-4>");
        t.Volatile(fifth, "<approval-5>");

        await t.HttpAsync("whoami client", HttpMethod.Get, "/api/user/whoami", client);
        await t.HttpAsync("whoami operator", HttpMethod.Get, "/api/user/whoami", op);
        await t.HttpAsync("no credential", HttpMethod.Get, "/api/agents", null);
        await t.HttpAsync("agent token", HttpMethod.Get, "/api/agents", agentToken);
        await t.HttpAsync("agents", HttpMethod.Get, "/api/agents", client);
        await t.HttpAsync("tokens", HttpMethod.Get, "/api/user/tokens", op);
        await t.HttpAsync("approvals pending", HttpMethod.Get, "/api/approvals", client);
        await t.HttpAsync("approvals all", HttpMethod.Get, "/api/approvals?status=all", client);
        await t.HttpAsync("approvals bad status", HttpMethod.Get, "/api/approvals?status=sideways", client);
        await t.HttpAsync("approval show", HttpMethod.Get, $"/api/approvals/{third}", client);
        await t.HttpAsync("approval show unknown", HttpMethod.Get, "/api/approvals/appr-0000000000000000", client);
        await t.HttpAsync("approve by client", HttpMethod.Post, $"/api/approvals/{third}/approve", client);
        await t.HttpAsync("approve unknown", HttpMethod.Post, "/api/approvals/nope/approve", op);
        await t.HttpAsync("approve bad body", HttpMethod.Post, $"/api/approvals/{third}/approve", op, "[1,2]");
        await t.HttpAsync("approve reason too long", HttpMethod.Post, $"/api/approvals/{third}/approve", op, new JsonObject { ["reason"] = new string('r', 1001) }.ToJsonString());
        await t.HttpAsync("approve ok", HttpMethod.Post, $"/api/approvals/{third}/approve", op, """{"reason":"fine"}""");
        await t.HttpAsync("approve decided", HttpMethod.Post, $"/api/approvals/{third}/approve", op);
        await t.HttpAsync("reject default reason", HttpMethod.Post, $"/api/approvals/{fourth}/reject", op);
        await t.HttpAsync("reject with reason", HttpMethod.Post, $"/api/approvals/{fifth}/reject", op, """{"reason":"no"}""");
        await t.HttpAsync("reject decided", HttpMethod.Post, $"/api/approvals/{fifth}/reject", op);
        await t.HttpAsync("audit bad limit", HttpMethod.Get, "/api/audit?limit=0", client);
        await t.HttpAsync("audit bad status", HttpMethod.Get, "/api/audit?status=weird", client);
        await t.HttpAsync("audit approvals", HttpMethod.Get, "/api/audit?capability=system.time&limit=3", client);
        await t.HttpAsync("status", HttpMethod.Get, "/api/status", client);
        await t.HttpAsync("backups by client", HttpMethod.Get, "/api/backups", client);
        await t.HttpAsync("backups", HttpMethod.Get, "/api/backups", op);
        await t.HttpAsync("backup create by client", HttpMethod.Post, "/api/backups", client, """{"agent":"alpha"}""");
        await t.HttpAsync("backup create invalid agent", HttpMethod.Post, "/api/backups", op, """{"agent":"Bad Agent"}""");
        await t.HttpAsync("backup restore unknown", HttpMethod.Post, "/api/backups/bkp-20000101T000000/restore", op);
        await t.HttpAsync("backup verify malformed", HttpMethod.Post, "/api/backups/nope/verify", op);
        await t.HttpAsync("vault status", HttpMethod.Get, "/api/vault", client);
        await t.HttpAsync("vault secrets", HttpMethod.Get, "/api/vault/secrets?include_revoked=true", client);
        await t.HttpAsync("vault lock by client", HttpMethod.Post, "/api/vault/lock", client);
        await t.HttpAsync("vault add by client", HttpMethod.Post, "/api/vault/secrets", client, new JsonObject { ["name"] = "api", ["type"] = "api_key", ["value"] = GoldenValue }.ToJsonString());
        await t.HttpAsync("vault add bad body", HttpMethod.Post, "/api/vault/secrets", op, "[1,2]");
        await t.HttpAsync("vault add ok", HttpMethod.Post, "/api/vault/secrets", op, new JsonObject
        {
            ["name"] = "api", ["type"] = "oauth_token", ["allowed_capabilities"] = "network.credentialed_request", ["allowed_hosts"] = "*.example.com", ["value"] = GoldenValue,
        }.ToJsonString());
        await t.HttpAsync("vault rotate ok", HttpMethod.Post, "/api/vault/secrets/api/rotate", op, new JsonObject { ["value"] = GoldenValue + "-3" }.ToJsonString());
        await t.HttpAsync("vault rotate unknown", HttpMethod.Post, "/api/vault/secrets/nope/rotate", op, new JsonObject { ["value"] = GoldenValue }.ToJsonString());
        await t.HttpAsync("vault revoke ok", HttpMethod.Post, "/api/vault/secrets/api/revoke", op);
        await t.HttpAsync("vault unlock wrong", HttpMethod.Post, "/api/vault/unlock", op, """{"passphrase":"not the passphrase"}""");
        await t.HttpAsync("state list by client", HttpMethod.Get, "/api/state/agents/alpha", client);
        await t.HttpAsync("state set ok", HttpMethod.Post, "/api/state/agents/alpha/value", op, """{"key":"api/key","value":[1,2]}""");
        await t.HttpAsync("state set bad body", HttpMethod.Post, "/api/state/agents/alpha/value", op, "[1,2]");
        await t.HttpAsync("state get ok", HttpMethod.Get, "/api/state/agents/alpha/value?key=api/key", op);
        await t.HttpAsync("state get unknown agent", HttpMethod.Get, "/api/state/agents/nobody/value?key=api/key", op);
        await t.HttpAsync("state list", HttpMethod.Get, "/api/state/agents/alpha?prefix=api/", op);
        await t.HttpAsync("state quota", HttpMethod.Get, "/api/state/agents/alpha/quota", op);
        await t.HttpAsync("state delete ok", HttpMethod.Post, "/api/state/agents/alpha/delete", op, """{"key":"api/key"}""");
        await t.HttpAsync("state shared set ok", HttpMethod.Post, "/api/state/shared/value", op, """{"key":"api/shared","value":true,"expected_version":0}""");
        await t.HttpAsync("state shared set conflict", HttpMethod.Post, "/api/state/shared/value", op, """{"key":"api/shared","value":false,"expected_version":0}""");
        await t.HttpAsync("state shared get", HttpMethod.Get, "/api/state/shared/value?key=api/shared", op);
        await t.HttpAsync("state shared list", HttpMethod.Get, "/api/state/shared?prefix=api/", op);
        await t.HttpAsync("state shared delete", HttpMethod.Post, "/api/state/shared/delete", op, """{"key":"api/shared"}""");
        await t.HttpAsync("proxy status", HttpMethod.Get, "/api/proxy/status", client);
        await t.HttpAsync("proxy writes", HttpMethod.Get, "/api/proxy/writes", client);
        await t.HttpAsync("proxy writes bad status", HttpMethod.Get, "/api/proxy/writes?status=sideways", client);
        await t.HttpAsync("proxy cancel by client", HttpMethod.Post, "/api/proxy/writes/wr-0000000000000000000000000000000a/cancel", client);
        await t.HttpAsync("proxy cancel unknown", HttpMethod.Post, "/api/proxy/writes/wr-0000000000000000000000000000000a/cancel", op);
        await t.HttpAsync("proxy retry malformed", HttpMethod.Post, "/api/proxy/writes/nope/retry", op);
        await t.HttpAsync("proxy rollback by client", HttpMethod.Post, "/api/proxy/writes/wr-0000000000000000000000000000000a/rollback", client);
        await t.HttpAsync("proxy rollback unknown", HttpMethod.Post, "/api/proxy/writes/wr-0000000000000000000000000000000a/rollback", op);
        await t.HttpAsync("proxy connect unknown", HttpMethod.Post, "/api/proxy/nosuch/connect", op, """{"secret":"xoxb-not-echoed"}""");
        await t.HttpAsync("proxy disconnect by client", HttpMethod.Post, "/api/proxy/slack/disconnect", client);
    }

    private const string GoldenValue = "sk_golden_value_0123456789";

    private static class Methods
    {
        public const string Status = ControlProtocol.Methods.Status;
        public const string Verify = ControlProtocol.Methods.Verify;
        public const string AgentCreate = ControlProtocol.Methods.AgentCreate;
        public const string AgentList = ControlProtocol.Methods.AgentList;
        public const string AgentShow = ControlProtocol.Methods.AgentShow;
        public const string AgentRotate = ControlProtocol.Methods.AgentRotate;
        public const string AgentRevoke = ControlProtocol.Methods.AgentRevoke;
        public const string AgentRestore = ControlProtocol.Methods.AgentRestore;
        public const string Kill = ControlProtocol.Methods.Kill;
        public const string UserTokenCreate = ControlProtocol.Methods.UserTokenCreate;
        public const string UserTokenList = ControlProtocol.Methods.UserTokenList;
        public const string UserTokenRevoke = ControlProtocol.Methods.UserTokenRevoke;
        public const string MountAdd = ControlProtocol.Methods.MountAdd;
        public const string MountList = ControlProtocol.Methods.MountList;
        public const string MountRemove = ControlProtocol.Methods.MountRemove;
        public const string ApprovalList = ControlProtocol.Methods.ApprovalList;
        public const string ApprovalShow = ControlProtocol.Methods.ApprovalShow;
        public const string ApprovalApprove = ControlProtocol.Methods.ApprovalApprove;
        public const string ApprovalReject = ControlProtocol.Methods.ApprovalReject;
        public const string PolicyShow = ControlProtocol.Methods.PolicyShow;
        public const string PolicySet = ControlProtocol.Methods.PolicySet;
        public const string PolicyCheck = ControlProtocol.Methods.PolicyCheck;
        public const string AuditRotate = ControlProtocol.Methods.AuditRotate;
        public const string AuthSocketList = ControlProtocol.Methods.AuthSocketList;
        public const string AuthSocketAllow = ControlProtocol.Methods.AuthSocketAllow;
        public const string AuthSocketRevoke = ControlProtocol.Methods.AuthSocketRevoke;
        public const string VaultStatus = ControlProtocol.Methods.VaultStatus;
        public const string VaultInit = ControlProtocol.Methods.VaultInit;
        public const string VaultUnlock = ControlProtocol.Methods.VaultUnlock;
        public const string VaultLock = ControlProtocol.Methods.VaultLock;
        public const string VaultList = ControlProtocol.Methods.VaultList;
        public const string VaultAdd = ControlProtocol.Methods.VaultAdd;
        public const string VaultRotate = ControlProtocol.Methods.VaultRotate;
        public const string VaultRevoke = ControlProtocol.Methods.VaultRevoke;
        public const string BackupCreate = ControlProtocol.Methods.BackupCreate;
        public const string BackupList = ControlProtocol.Methods.BackupList;
        public const string BackupRestore = ControlProtocol.Methods.BackupRestore;
        public const string BackupVerify = ControlProtocol.Methods.BackupVerify;
        public const string BackupExport = ControlProtocol.Methods.BackupExport;
        public const string StateSet = ControlProtocol.Methods.StateSet;
        public const string StateGet = ControlProtocol.Methods.StateGet;
        public const string StateList = ControlProtocol.Methods.StateList;
        public const string StateQuota = ControlProtocol.Methods.StateQuota;
        public const string StateDelete = ControlProtocol.Methods.StateDelete;
        public const string StateSharedSet = ControlProtocol.Methods.StateSharedSet;
        public const string StateSharedGet = ControlProtocol.Methods.StateSharedGet;
        public const string StateSharedList = ControlProtocol.Methods.StateSharedList;
        public const string StateSharedDelete = ControlProtocol.Methods.StateSharedDelete;
        public const string ProxyStatus = ControlProtocol.Methods.ProxyStatus;
        public const string ProxyWrites = ControlProtocol.Methods.ProxyWrites;
        public const string ProxyCancel = ControlProtocol.Methods.ProxyCancel;
        public const string ProxyRetry = ControlProtocol.Methods.ProxyRetry;
        public const string ProxyDiscard = ControlProtocol.Methods.ProxyDiscard;
        public const string ProxyRollback = ControlProtocol.Methods.ProxyRollback;
        public const string ProxyConnect = ControlProtocol.Methods.ProxyConnect;
        public const string ProxyDisconnect = ControlProtocol.Methods.ProxyDisconnect;
    }

    /// <summary>Records each exchange as one normalised JSON line: <c>{"case", "status", "body"}</c>, the body verbatim.</summary>
    private sealed partial class Transcript(TestGateway gw)
    {
        private readonly List<(string Text, string Replacement)> _volatile =
        [
            (gw.DataDir, "<data-dir>"),
            (Path.GetDirectoryName(gw.DataDir)!, "<data-parent>"),
            (AppContext.BaseDirectory.TrimEnd('/'), "<bin>"),
        ];

        public List<string> Control { get; } = [];
        public List<string> Http { get; } = [];
        public JsonNode? LastResult { get; private set; }

        public void Volatile(string text, string replacement) => _volatile.Insert(0, (text, replacement));

        public async Task ControlAsync(string name, string method, JsonObject parameters)
        {
            var commands = gw.Services.GetRequiredService<ControlCommands>();
            // As the socket hands them over: parsed from the request line's text.
            var wire = (JsonObject)JsonNode.Parse(parameters.ToJsonString())!;
            var line = await commands.ExecuteAsync(null, method, wire, CancellationToken.None);
            LastResult = ControlResponse.Parse(line).Result;
            Control.Add(Line(name, null, line));
        }

        public async Task SocketAsync(string name, string[] lines)
        {
            using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
            await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(gw.ControlSocket));
            await using var stream = new System.Net.Sockets.NetworkStream(socket, ownsSocket: false);
            using var reader = new StreamReader(stream);
            foreach (var request in lines)
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(request + "\n"));
                var answer = await reader.ReadLineAsync().WaitAsync(TestTimeouts.Call);
                Control.Add(Line(name, null, answer ?? "null"));
            }
        }

        public async Task HttpAsync(string name, HttpMethod method, string path, string? credential, string? body = null)
        {
            using var http = new HttpClient();
            using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{gw.UserApiPort}{path}");
            if (credential is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", credential);
            if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            Http.Add(Line(name, (int)response.StatusCode, text.Length == 0 ? "null" : text));
        }

        private string Line(string name, int? status, string body)
        {
            foreach (var (text, replacement) in _volatile) body = body.Replace(text, replacement, StringComparison.Ordinal);
            body = Timestamp().Replace(body, "<time>");
            body = Token().Replace(body, "<token>");
            body = ApprovalIdPattern().Replace(body, "<approval>");
            body = Guid().Replace(body, "<guid>");
            body = RpcSession().Replace(body, "<rpc-session>");
            body = Seconds().Replace(body, "\"$1\":<n>");
            // What depends on the host (its packages, kernel, name) or on how far asynchronous counters have got.
            body = HostHealth().Replace(body, "{\"name\":\"$1\",<host>}");
            body = TlsNames().Replace(body, "\"names\":<host-names>");
            body = TlsHealth().Replace(body, "<tls-health>");
            body = AuditOffset().Replace(body, "\"offset\":<n>");
            body = AuditCounters().Replace(body, "<n> entries written, <n> waiting");
            body = Date().Replace(body, "<date>");
            body = Sha256().Replace(body, "<sha256>");
            body = BackupId().Replace(body, "<backup-id>");
            body = BackupSize().Replace(body, "\"$1\":<n>");
            foreach (var (port, label) in new[] { (gw.GatewayPort, "<gateway-port>"), (gw.UserApiPort, "<user-api-port>"), (gw.HealthPort, "<health-port>") })
                body = Regex.Replace(body, $@"(?<![0-9]){port}(?![0-9])", label);
            var head = new JsonObject { ["case"] = name, ["status"] = status }.ToJsonString();
            return head[..^1] + ",\"body\":" + body + "}";
        }

        public void Compare(string file, List<string> lines, [CallerFilePath] string source = "")
        {
            var path = Path.Combine(Path.GetDirectoryName(source)!, "Golden", file + ".jsonl");
            var actual = string.Join('\n', lines) + "\n";
            if (Environment.GetEnvironmentVariable("KRUXOS_GOLDEN_UPDATE") == "1")
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllText(path, actual);
                return;
            }
            Assert.True(File.Exists(path), $"no golden file {path}: record it with KRUXOS_GOLDEN_UPDATE=1");
            var expected = File.ReadAllText(path).Split('\n');
            var got = actual.Split('\n');
            for (var i = 0; i < Math.Max(expected.Length, got.Length); i++)
            {
                var e = i < expected.Length ? expected[i] : "<missing>";
                var a = i < got.Length ? got[i] : "<missing>";
                Assert.True(e == a, $"{file}.jsonl line {i + 1} differs\nexpected: {e}\nactual:   {a}");
            }
        }

        [GeneratedRegex(@"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})|\d{8}T\d{6}Z")]
        private static partial Regex Timestamp();

        [GeneratedRegex(@"krx_[a-z]+_[A-Za-z0-9_\-]+")]
        private static partial Regex Token();

        [GeneratedRegex(@"appr-[0-9A-Za-z]{8,}")]
        private static partial Regex ApprovalIdPattern();

        [GeneratedRegex(@"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")]
        private static partial Regex Guid();

        [GeneratedRegex(@"""(uptime_seconds|age_seconds|pid|total_invocations)"":\d+")]
        private static partial Regex Seconds();

        [GeneratedRegex(@"\{""name"":""((?:health:)?(?:host-packages|sandbox-confinement|tls))"",""(?:status|pass)"":[^,]+,""details?"":""[^""]*""\}")]
        private static partial Regex HostHealth();

        [GeneratedRegex(@"""names"":\[[^\]]*\]")]
        private static partial Regex TlsNames();

        [GeneratedRegex(@"generated certificate valid until [^""]*")]
        private static partial Regex TlsHealth();

        [GeneratedRegex(@"(?<=""entry_index"":\d+,)""offset"":\d+")]
        private static partial Regex AuditOffset();

        [GeneratedRegex(@"\d+ entries written, \d+ waiting")]
        private static partial Regex AuditCounters();

        [GeneratedRegex(@"\d{4}-\d{2}-\d{2}")]
        private static partial Regex Date();

        [GeneratedRegex(@"rpc-[0-9a-f]{16}")]
        private static partial Regex RpcSession();

        [GeneratedRegex(@"(?<![0-9a-fA-F])[0-9a-fA-F:]{64,}(?![0-9a-fA-F])")]
        private static partial Regex Sha256();

        [GeneratedRegex(@"bkp-[0-9]{8}T[0-9]{6}(-[0-9]+)?")]
        private static partial Regex BackupId();

        [GeneratedRegex(@"""(file_size_bytes)"":\d+")]
        private static partial Regex BackupSize();
    }
}
