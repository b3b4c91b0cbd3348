using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Alerts;
using KruxOS.Actors.Pauses;
using KruxOS.Actors.Vault;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Control;
using KruxOS.Core.Network;
using KruxOS.Core.Vault;
using KruxOS.Gateway.Control;
using KruxOS.Gateway.Tests.Comms;
using KruxOS.Gateway.Tests.Vault;
using KruxOS.Testing;
using KruxOS.Vault;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary>
/// One gateway whose audit log can be made to refuse entries: fail_mode <c>halt</c> on a disk whose appends fail on demand
/// (the writer then answers every append with a refusal until the disk is back), and a vault unlocked at start-up.
/// </summary>
public sealed class HaltableAuditGateway : IAsyncLifetime
{
    public const string Passphrase = "operator audit passphrase 1";

    public FailingAuditDisk Disk { get; } = new();

    public TestGateway Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Gateway = await TestGateway.StartCustomizedAsync(b =>
            {
                b.Services.AddSingleton<IAuditFileSystem>(Disk);
                b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test"));
            }, null,
            "--KruxOS:Audit:FailMode", "Halt", "--KruxOS:Audit:RetryInterval", "00:00:01");
        await VaultWait.UntilAsync(() => Gateway.Services.GetRequiredService<VaultAdmin>().LockState == VaultLockState.Unlocked, "the vault to unlock at start-up");
    }

    public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();

    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);

    private async Task<string> AuditHealth()
    {
        using var http = new HttpClient();
        using var response = await http.GetAsync($"http://127.0.0.1:{Gateway.HealthPort}/health", TestContext.Current.CancellationToken);
        var body = await response.Content.ReadFromJsonAsync<JsonObject>(TestContext.Current.CancellationToken);
        return body!["services"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "audit")!["status"]!.GetValue<string>();
    }

    private async Task WaitForAuditHealth(Func<string, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        var last = "";
        while (clock.Elapsed < Recovery)
        {
            last = await AuditHealth();
            if (condition(last)) return;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        throw new TimeoutException($"the audit check never became {what}; last: {last}");
    }

    /// <summary>
    /// Fails the disk and makes the writer halt on its next entry (a call of <paramref name="agentToken"/>), runs
    /// <paramref name="act"/> while every append is refused, then brings the disk back and waits until the writer is healthy.
    /// </summary>
    public async Task WhileAuditRefusesAsync(string agentToken, Func<Task> act)
    {
        ArgumentNullException.ThrowIfNull(act);
        Disk.Fail = true;
        try
        {
            await Rpc.InvokeAsync(Gateway.GatewayPort, agentToken, "system.time");
            await WaitForAuditHealth(s => s == "critical", "critical");
            await act();
        }
        finally
        {
            Disk.Fail = false;
            await WaitForAuditHealth(s => s == "healthy", "healthy");
        }
    }
}

/// <summary>Real audit files whose appends fail while <see cref="Fail"/> is set (a full or failing disk).</summary>
public sealed class FailingAuditDisk : IAuditFileSystem
{
    private volatile bool _fail;

    public bool Fail { get => _fail; set => _fail = value; }

    public IAuditAppendFile OpenAppend(string path) => new File(this, PhysicalAuditFileSystem.Instance.OpenAppend(path));

    public void SyncDirectory(string directory) => PhysicalAuditFileSystem.Instance.SyncDirectory(directory);

    private sealed class File(FailingAuditDisk disk, IAuditAppendFile inner) : IAuditAppendFile
    {
        public long Length => inner.Length;

        public void Append(ReadOnlySpan<byte> bytes)
        {
            if (disk.Fail) throw new IOException("injected: No space left on device");
            inner.Append(bytes);
        }

        public void Sync() => inner.Sync();

        public void Truncate(long length) => inner.Truncate(length);

        public void Dispose() => inner.Dispose();
    }
}

/// <summary>
/// Operator changes are audited in the admin services (ADR 0057): vault, pauses, alert acknowledgements and state-admin
/// writes, from the control socket and the User API, are written to the audit log attributed to the operator, with names
/// and versions but never a value; and while the audit log refuses entries, every such change — and every secret
/// resolution — is refused and changes nothing.
/// </summary>
public sealed class OperatorAuditSpecs(HaltableAuditGateway fixture) : IClassFixture<HaltableAuditGateway>
{
    private static readonly TimeSpan Recovery = TimeSpan.FromSeconds(90);
    private TestGateway Gateway => fixture.Gateway;
    private IServiceProvider Services => Gateway.Services;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Id() => Guid.NewGuid().ToString("N")[..8];

    private async Task<JsonNode> Control(string method, JsonObject p)
    {
        var line = await Services.GetRequiredService<ControlCommands>().ExecuteAsync(null, method, p, Ct);
        return JsonNode.Parse(line)!;
    }

    private async Task<(int Status, JsonNode? Body)> UserApi(HttpMethod method, string path, string token, JsonObject? body = null)
    {
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(method, $"http://127.0.0.1:{Gateway.UserApiPort}{path}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null) request.Content = JsonContent.Create(body);
        using var response = await http.SendAsync(request, Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        return ((int)response.StatusCode, text.Length == 0 ? null : JsonNode.Parse(text));
    }

    private async Task<List<AuditEntry>> EntriesAsync(string capabilityGlob, Func<AuditEntry, bool> match, int atLeast)
    {
        var reader = new AuditReader(Path.Combine(Gateway.DataDir, "audit"));
        var clock = Stopwatch.StartNew();
        List<AuditEntry> found = [];
        while (clock.Elapsed < Recovery)
        {
            found = [.. (await reader.QueryAsync(new AuditQuery { Capability = capabilityGlob, Limit = AuditQuery.MaxLimit }, Ct)).Entries.Select(e => e.Entry).Where(match)];
            if (found.Count >= atLeast) return found;
            await Task.Delay(100, Ct);
        }
        return found;
    }

    private void NotInAuditLog(string value)
    {
        var needle = Encoding.UTF8.GetBytes(value);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(Gateway.DataDir, "audit"), "*", SearchOption.AllDirectories))
        {
            byte[] bytes;
            try { bytes = File.ReadAllBytes(file); }
            catch (IOException) { continue; }
            Assert.True(bytes.AsSpan().IndexOf(needle) < 0, $"{file} holds a value an operator wrote");
        }
    }

    private static void RefusedByAudit(JsonNode line)
    {
        Assert.False(line["ok"]!.GetValue<bool>(), line.ToJsonString());
        Assert.Equal("audit_error", line["error"]!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task Should_audit_operator_changes_from_the_control_socket_and_the_user_api_as_the_operator_with_names_and_versions_only()
    {
        // arrange: an agent with an alert, an operator user token, two values nobody else knows
        var agent = "audited-" + Id();
        var token = await Gateway.CreateAgentAsync(agent);
        var alert = (await Rpc.OkAsync(Gateway.GatewayPort, token, "alerts.send", new JsonObject { ["message"] = "disk nearly full" }))["alert_id"]!.GetValue<string>();
        var ops = "ops-" + Id();
        var opToken = (await Gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = ops, ["role"] = "operator" }))["token"]!.GetValue<string>();
        var (secretValue, stateValue) = ("sk_operator_audit_" + Id(), "state-value-" + Id());
        var (viaSocket, viaApi) = ("sock-" + Id(), "api-" + Id());

        // act: the control socket (as root), then the User API (as the operator token)
        Assert.True((await Control(ControlProtocol.Methods.VaultAdd, new JsonObject
            { ["name"] = viaSocket, ["type"] = "api_key", ["allowed_hosts"] = "api.example.com", ["value"] = secretValue }))["ok"]!.GetValue<bool>());
        Assert.True((await Control(ControlProtocol.Methods.Pause, new JsonObject { ["name"] = agent }))["ok"]!.GetValue<bool>());
        Assert.True((await Control(ControlProtocol.Methods.Resume, new JsonObject { ["name"] = agent }))["ok"]!.GetValue<bool>());
        Assert.True((await Control(ControlProtocol.Methods.AlertAck, new JsonObject { ["id"] = alert }))["ok"]!.GetValue<bool>());
        var set = await Control(ControlProtocol.Methods.StateSet, new JsonObject { ["agent"] = agent, ["key"] = "plan", ["value"] = new JsonObject { ["v"] = stateValue } });
        Assert.Equal(1, set["result"]!["version"]!.GetValue<int>());
        var added = await UserApi(HttpMethod.Post, "/api/vault/secrets", opToken, new JsonObject
            { ["name"] = viaApi, ["type"] = "api_key", ["allowed_hosts"] = "api.example.com", ["value"] = secretValue + "-2" });
        Assert.Equal(200, added.Status);
        var shared = await UserApi(HttpMethod.Post, "/api/state/shared/value", opToken, new JsonObject
            { ["key"] = "ops/" + agent, ["value"] = stateValue, ["expected_version"] = 0 });
        Assert.Equal(200, shared.Status);

        // assert: each change has its request and outcome entries, by the operator who made it
        var socketAdd = await EntriesAsync("operator.vault.add", e => e.Inputs.GetProperty("name").GetString() == viaSocket, 2);
        Assert.Equal(2, socketAdd.Count);
        Assert.Contains(socketAdd, e => e.Status == AuditStatus.Pending && e.OutputSummary == "requested");
        Assert.Contains(socketAdd, e => e.Status == AuditStatus.Success && e.OutputSummary == "done");
        Assert.All(socketAdd, e => Assert.Equal("user:cli:root", e.Actor.ToString()));
        var apiAdd = await EntriesAsync("operator.vault.add", e => e.Inputs.GetProperty("name").GetString() == viaApi, 2);
        Assert.All(apiAdd, e => Assert.Equal("user:" + ops, e.Actor.ToString()));
        Assert.Equal(2, (await EntriesAsync("operator.pause.pause", e => e.Inputs.GetProperty("agent").GetString() == agent, 2)).Count);
        Assert.Equal(2, (await EntriesAsync("operator.pause.resume", e => e.Inputs.GetProperty("agent").GetString() == agent, 2)).Count);
        Assert.Equal(2, (await EntriesAsync("operator.alert.acknowledge", e => e.Inputs.GetProperty("alert_id").GetString() == alert, 2)).Count);
        var stateWrite = (await EntriesAsync("operator.state.set", e => e.Inputs.GetProperty("agent").GetString() == agent, 2)).Single(e => e.Status == AuditStatus.Success);
        Assert.Equal("plan", stateWrite.Inputs.GetProperty("key").GetString());
        Assert.Equal(1, stateWrite.Metadata.Details!.Value.GetProperty("version").GetInt64());
        var sharedWrite = (await EntriesAsync("operator.state.shared.set", e => e.Inputs.GetProperty("key").GetString() == "ops/" + agent, 2))
            .Single(e => e.Status == AuditStatus.Success);
        Assert.Equal("user:" + ops, sharedWrite.Actor.ToString());
        // the operator is the shared key's owner, and the agent reads the operator's persistent write through its own capability
        Assert.Equal("user:" + ops, (await UserApi(HttpMethod.Get, $"/api/state/shared/value?key=ops/{agent}", opToken)).Body!["owner_agent"]!.GetValue<string>());
        Assert.Equal(stateValue, (await Rpc.OkAsync(Gateway.GatewayPort, token, "state.persistent.get", new JsonObject { ["key"] = "plan" }))["value"]!["v"]!.GetValue<string>());
        // never a value
        NotInAuditLog(secretValue);
        NotInAuditLog(stateValue);
    }

    [Fact]
    public async Task Should_refuse_every_operator_change_that_cannot_be_audited_and_change_nothing()
    {
        // arrange: an agent with an alert and a state value, a secret, and an operator token for the User API
        var agent = "refused-" + Id();
        var token = await Gateway.CreateAgentAsync(agent);
        var alert = (await Rpc.OkAsync(Gateway.GatewayPort, token, "alerts.send", new JsonObject { ["message"] = "check me" }))["alert_id"]!.GetValue<string>();
        Assert.True((await Control(ControlProtocol.Methods.StateSet, new JsonObject { ["agent"] = agent, ["key"] = "k", ["value"] = "before" }))["ok"]!.GetValue<bool>());
        var secret = "keep-" + Id();
        Assert.True((await Control(ControlProtocol.Methods.VaultAdd, new JsonObject
            { ["name"] = secret, ["type"] = "api_key", ["allowed_hosts"] = "api.example.com", ["value"] = "sk_before_" + Id() }))["ok"]!.GetValue<bool>());
        var opToken = (await Gateway.ControlAsync(ControlProtocol.Methods.UserTokenCreate, new JsonObject { ["label"] = "ops-" + Id(), ["role"] = "operator" }))["token"]!.GetValue<string>();
        var vault = Services.GetRequiredService<VaultAdmin>();
        var version = vault.List(true).Single(s => s.Name == secret).Version;
        var added = "new-" + Id();

        await fixture.WhileAuditRefusesAsync(token, async () =>
        {
            // act + assert: the control socket
            RefusedByAudit(await Control(ControlProtocol.Methods.VaultAdd, new JsonObject
                { ["name"] = added, ["type"] = "api_key", ["allowed_hosts"] = "api.example.com", ["value"] = "sk_never_" + Id() }));
            RefusedByAudit(await Control(ControlProtocol.Methods.VaultRotate, new JsonObject { ["name"] = secret, ["value"] = "sk_rotated_" + Id() }));
            RefusedByAudit(await Control(ControlProtocol.Methods.VaultRevoke, new JsonObject { ["name"] = secret }));
            RefusedByAudit(await Control(ControlProtocol.Methods.VaultLock, new JsonObject()));
            RefusedByAudit(await Control(ControlProtocol.Methods.Pause, new JsonObject { ["name"] = agent }));
            RefusedByAudit(await Control(ControlProtocol.Methods.AlertAck, new JsonObject { ["id"] = alert }));
            RefusedByAudit(await Control(ControlProtocol.Methods.StateSet, new JsonObject { ["agent"] = agent, ["key"] = "k", ["value"] = "after" }));
            RefusedByAudit(await Control(ControlProtocol.Methods.StateSharedSet, new JsonObject { ["key"] = "never/" + agent, ["value"] = 1, ["expected_version"] = 0 }));
            // the User API
            var apiAdd = await UserApi(HttpMethod.Post, "/api/vault/secrets", opToken, new JsonObject
                { ["name"] = added, ["type"] = "api_key", ["allowed_hosts"] = "api.example.com", ["value"] = "sk_never_" + Id() });
            Assert.Equal(500, apiAdd.Status);
            Assert.Equal("audit_error", apiAdd.Body!["error_type"]!.GetValue<string>());
            var apiState = await UserApi(HttpMethod.Post, $"/api/state/agents/{agent}/value", opToken, new JsonObject { ["key"] = "k", ["value"] = "after" });
            Assert.Equal(500, apiState.Status);

            // nothing changed
            Assert.DoesNotContain(vault.List(true), s => s.Name == added);
            var kept = vault.List(true).Single(s => s.Name == secret);
            Assert.Equal(version, kept.Version);
            Assert.False(kept.Revoked);
            Assert.Equal(VaultLockState.Unlocked, vault.LockState);
            Assert.False(Services.GetRequiredService<PauseAdmin>().IsPaused(agent));
        });

        // after the disk is back: the alert is still pending and the value unchanged
        var alerts = await Services.GetRequiredService<AlertAdmin>().ListAsync("pending", 500, Ct);
        Assert.Contains(alerts.Value!.Alerts, a => a.AlertId == alert);
        var value = await Control(ControlProtocol.Methods.StateGet, new JsonObject { ["agent"] = agent, ["key"] = "k" });
        Assert.Equal("before", value["result"]!["value"]!.GetValue<string>());
        Assert.False((await Control(ControlProtocol.Methods.StateSharedGet, new JsonObject { ["key"] = "never/" + agent }))["result"]!["found"]!.GetValue<bool>());
    }
}
