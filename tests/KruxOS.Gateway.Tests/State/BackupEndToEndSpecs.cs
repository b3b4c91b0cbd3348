using System.Text.Json.Nodes;
using KruxOS.Actors.Policy;
using KruxOS.Actors.State;
using KruxOS.Actors.Vault;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Shared;
using KruxOS.Core.Vault;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.State;

/// <summary>One gateway with an unlocked vault whose org policy lets agents run <c>state.backup.*</c> without approval.</summary>
public sealed class BackupGateway : IAsyncLifetime
{
    public const string Passphrase = "backup spec passphrase 4711";

    public TestGateway Gateway { get; private set; } = null!;

    public string BackupDir => Path.Combine(Gateway.DataDir, "backups");

    public static async Task<TestGateway> StartAsync(string? dataDir = null, Action<Microsoft.AspNetCore.Builder.WebApplicationBuilder>? customize = null,
        params string[] extraArgs)
    {
        dataDir ??= Path.Combine(Directory.CreateTempSubdirectory("kruxos-backup-e2e-").FullName, "data");
        PolicyDirectory.WriteAtomically(Path.Combine(dataDir, "policies", "org.yaml"),
            "name: backup-specs\nversion: \"1.0\"\ncapabilities:\n  state.backup.create: autonomous\n  state.backup.restore: autonomous\n  state.backup.export: autonomous\n");
        var gateway = await TestGateway.StartCustomizedAsync(b =>
        {
            b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test"));
            customize?.Invoke(b);
        }, dataDir, extraArgs);
        await gateway.Services.GetRequiredService<PolicyStore>().Loaded.WaitAsync(TestTimeouts.Call);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (gateway.Services.GetRequiredService<VaultAdmin>().LockState != VaultLockState.Unlocked)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the vault did not unlock");
            await Task.Delay(50);
        }
        return gateway;
    }

    public async ValueTask InitializeAsync() => Gateway = await StartAsync();

    /// <summary>Runs the Node MCP SDK client with the calls and returns each call's result.</summary>
    public async Task<JsonArray> CallAsync(string token, params (string Tool, object Args)[] calls)
    {
        string[] args = ["--transport", "http", "--url", Gateway.McpHttp.ToString(), "--timeout", "60000",
            .. calls.SelectMany(c => new[] { "--call", c.Tool, c.Args is JsonObject o ? o.ToJsonString() : System.Text.Json.JsonSerializer.Serialize(c.Args) })];
        var run = await NodeClients.RunAsync(token, args);
        Assert.True(run["connected"]!.GetValue<bool>(), run.ToJsonString());
        return run["results"]!.AsArray();
    }

    public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>
/// <c>state.backup.*</c> and <c>kruxos backup</c> through real gateways: an agent backs up and restores its own state
/// (versions kept), a tampered, truncated or renamed file is refused with nothing restored, ids never become other paths,
/// another agent's backup is invisible, export writes through the sandbox with the write rules, a locked vault refuses,
/// and a full backup restores into a fresh data directory with the same passphrase.
/// </summary>
public sealed class BackupEndToEndSpecs(BackupGateway fixture) : IClassFixture<BackupGateway>
{
    private static string Id() => Guid.NewGuid().ToString("N")[..8];

    private static JsonNode Ok(JsonArray results, int i)
    {
        var r = results[i]!;
        Assert.False(r["isError"]!.GetValue<bool>(), $"call {i}: {r.ToJsonString()}");
        return r["body"]!;
    }

    private static string ErrorType(JsonArray results, int i)
    {
        var r = results[i]!;
        Assert.True(r["isError"]!.GetValue<bool>(), $"call {i} should have failed: {r.ToJsonString()}");
        return r["body"]!["error"]!.GetValue<string>();
    }

    private static (string, object) Set(string key, object value) => ("state__persistent__set", new { key, value });

    private static (string, object) Get(string key) => ("state__persistent__get", new { key });

    [Fact]
    public async Task Should_back_up_an_agents_own_state_and_restore_it_with_its_versions()
    {
        var name = "bk-" + Id();
        var token = await fixture.Gateway.CreateAgentAsync(name);

        var before = await fixture.CallAsync(token, Set("k", "v1"), Set("k", "v2"), Set("j", new { n = 1 }),
            ("state__backup__create", new { agent = name }));
        var backupId = Ok(before, 3)["backup_id"]!.GetValue<string>();
        Assert.Equal("agent:" + name, Ok(before, 3)["scope"]!.GetValue<string>());
        Assert.Equal(new FileInfo(Path.Combine(fixture.BackupDir, backupId + ".kbak")).Length, Ok(before, 3)["file_size_bytes"]!.GetValue<long>());

        var after = await fixture.CallAsync(token, Set("k", "v3"), Set("n", "new"), ("state__persistent__delete", new { key = "j" }),
            ("state__backup__list", new { }),
            ("state__backup__restore", new { backup_id = backupId }),
            Get("k"), Get("j"), Get("n"), ("state__persistent__history", new { key = "k" }));

        Assert.Contains(Ok(after, 3)["backups"]!.AsArray(), b => b!["backup_id"]!.GetValue<string>() == backupId);
        var restored = Ok(after, 4);
        Assert.True(restored["restored"]!.GetValue<bool>());
        Assert.Equal([name], restored["agents_restored"]!.AsArray().Select(a => a!.GetValue<string>()));
        Assert.False(restored["shared_state_restored"]!.GetValue<bool>());
        Assert.Equal("v2", Ok(after, 5)["value"]!.GetValue<string>());
        Assert.Equal(2, Ok(after, 5)["version"]!.GetValue<long>());
        Assert.True(Ok(after, 6)["found"]!.GetValue<bool>());
        Assert.False(Ok(after, 7)["found"]!.GetValue<bool>());
        Assert.Equal(2, Ok(after, 8)["count"]!.GetValue<int>());
        // The plaintext is nowhere in the file.
        Assert.DoesNotContain("\"v2\"", await File.ReadAllTextAsync(Path.Combine(fixture.BackupDir, backupId + ".kbak")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_refuse_a_tampered_truncated_or_renamed_backup_and_restore_nothing()
    {
        var name = "tamper-" + Id();
        var token = await fixture.Gateway.CreateAgentAsync(name);
        var made = await fixture.CallAsync(token, Set("k", "backed-up"), ("state__backup__create", new { agent = name }), Set("k", "current"));
        var backupId = Ok(made, 1)["backup_id"]!.GetValue<string>();
        var path = Path.Combine(fixture.BackupDir, backupId + ".kbak");
        var original = await File.ReadAllBytesAsync(path);

        // One bit of the last chunk's ciphertext changed.
        var flipped = (byte[])original.Clone();
        flipped[^20] ^= 0x01;
        await File.WriteAllBytesAsync(path, flipped);
        var tampered = await fixture.CallAsync(token, ("state__backup__restore", new { backup_id = backupId }), Get("k"));
        Assert.Equal("DecryptionFailed", ErrorType(tampered, 0));
        Assert.Equal("current", Ok(tampered, 1)["value"]!.GetValue<string>());

        // Truncated by one byte.
        await File.WriteAllBytesAsync(path, original[..^1]);
        var truncated = await fixture.CallAsync(token, ("state__backup__restore", new { backup_id = backupId }), Get("k"));
        Assert.Equal("DecryptionFailed", ErrorType(truncated, 0));
        Assert.Equal("current", Ok(truncated, 1)["value"]!.GetValue<string>());

        // The intact file renamed to another id.
        File.Delete(path);
        var renamedId = "bkp-20000101T000000";
        await File.WriteAllBytesAsync(Path.Combine(fixture.BackupDir, renamedId + ".kbak"), original);
        try
        {
            var renamed = await fixture.CallAsync(token, ("state__backup__restore", new { backup_id = renamedId }), Get("k"));
            Assert.Equal("DecryptionFailed", ErrorType(renamed, 0));
            Assert.Contains("renamed", renamed[0]!["body"]!.ToJsonString());
            Assert.Equal("current", Ok(renamed, 1)["value"]!.GetValue<string>());
        }
        finally
        {
            File.Delete(Path.Combine(fixture.BackupDir, renamedId + ".kbak"));
        }
    }

    [Fact]
    public async Task Should_never_turn_a_backup_id_with_path_characters_into_a_path()
    {
        // A marker backup outside the backup directory (inside this gateway's own data directory), reachable only by a traversal.
        var name = "trav-" + Id();
        var token = await fixture.Gateway.CreateAgentAsync(name);
        var seed = await fixture.CallAsync(token, ("state__backup__create", new { agent = name }));
        var seedId = Ok(seed, 0)["backup_id"]!.GetValue<string>();
        // Short enough for the definition's max_length (32), so only the id parser stands in the way.
        var outside = Path.Combine(fixture.Gateway.DataDir, "o");
        Directory.CreateDirectory(outside);
        File.Copy(Path.Combine(fixture.BackupDir, seedId + ".kbak"), Path.Combine(outside, seedId + ".kbak"));
        var traversal = Path.GetRelativePath(fixture.BackupDir, Path.Combine(outside, seedId));

        var run = await fixture.CallAsync(token,
            ("state__backup__restore", new { backup_id = traversal }),
            ("state__backup__restore", new { backup_id = "bkp-1/../" + seedId }),
            ("state__backup__export", new { backup_id = traversal, path = "/workspace/" }));

        Assert.Equal("InvalidInput", ErrorType(run, 0));
        Assert.Equal("InvalidInput", ErrorType(run, 1));
        Assert.Equal("InvalidInput", ErrorType(run, 2));
        Assert.True(traversal.Length <= 32, traversal);
        Assert.False(File.Exists(Path.Combine(fixture.Gateway.DataDir, "workspace", name, seedId + ".kbak")));
    }

    [Fact]
    public async Task Should_keep_another_agents_backup_invisible_and_refuse_to_restore_or_export_it()
    {
        var owner = "own-" + Id();
        var other = "oth-" + Id();
        var ownerToken = await fixture.Gateway.CreateAgentAsync(owner);
        var otherToken = await fixture.Gateway.CreateAgentAsync(other);
        var made = await fixture.CallAsync(ownerToken, Set("secret", "owner-only"), ("state__backup__create", new { agent = owner }));
        var backupId = Ok(made, 1)["backup_id"]!.GetValue<string>();

        var run = await fixture.CallAsync(otherToken,
            ("state__backup__list", new { }),
            ("state__backup__restore", new { backup_id = backupId }),
            ("state__backup__restore", new { backup_id = backupId, agent = owner }),
            ("state__backup__export", new { backup_id = backupId, path = "/workspace/" }),
            ("state__backup__create", new { agent = owner }),
            Get("secret"));

        Assert.DoesNotContain(Ok(run, 0)["backups"]!.AsArray(), b => b!["backup_id"]!.GetValue<string>() == backupId);
        Assert.Equal("BackupNotFound", ErrorType(run, 1));
        Assert.Equal("PermissionDenied", ErrorType(run, 2));
        Assert.Equal("BackupNotFound", ErrorType(run, 3));
        Assert.Equal("PermissionDenied", ErrorType(run, 4));
        Assert.False(Ok(run, 5)["found"]!.GetValue<bool>());
        Assert.Empty(Directory.Exists(Path.Combine(fixture.Gateway.DataDir, "workspace", other))
            ? Directory.GetFiles(Path.Combine(fixture.Gateway.DataDir, "workspace", other), "*.kbak") : []);
    }

    [Fact]
    public async Task Should_export_through_the_sandbox_into_the_workspace_and_refuse_a_path_that_escapes_it()
    {
        var name = "exp-" + Id();
        var token = await fixture.Gateway.CreateAgentAsync(name);
        var made = await fixture.CallAsync(token, Set("k", 1), ("state__backup__create", new { agent = name }), ("state__backup__create", new { }));
        var backupId = Ok(made, 1)["backup_id"]!.GetValue<string>();
        var fullId = Ok(made, 2)["backup_id"]!.GetValue<string>();
        var workspace = Path.Combine(fixture.Gateway.DataDir, "workspace", name);

        var run = await fixture.CallAsync(token,
            ("state__backup__export", new { backup_id = backupId, path = "/workspace" }),
            ("state__backup__export", new { backup_id = backupId, path = "/workspace/copy.kbak" }),
            ("state__backup__export", new { backup_id = backupId, path = "/workspace/copy.kbak" }),
            ("state__backup__export", new { backup_id = backupId, path = "/workspace/../escaped.kbak" }),
            ("state__backup__export", new { backup_id = fullId, path = "/workspace/full.kbak" }));

        Assert.Equal("/workspace/" + backupId + ".kbak", Ok(run, 0)["exported_path"]!.GetValue<string>());
        var kept = await File.ReadAllBytesAsync(Path.Combine(fixture.BackupDir, backupId + ".kbak"));
        Assert.Equal(kept, await File.ReadAllBytesAsync(Path.Combine(workspace, backupId + ".kbak")));
        Assert.Equal(kept.Length, Ok(run, 1)["size_bytes"]!.GetValue<long>());
        Assert.Equal(kept, await File.ReadAllBytesAsync(Path.Combine(workspace, "copy.kbak")));
        Assert.Equal("DestinationExists", ErrorType(run, 2));
        Assert.Equal("PathOutOfScope", ErrorType(run, 3));
        Assert.Equal("PermissionDenied", ErrorType(run, 4));
        Assert.False(File.Exists(Path.Combine(fixture.Gateway.DataDir, "workspace", "escaped.kbak")));
        Assert.False(File.Exists(Path.Combine(workspace, "full.kbak")));
        // Written by the agent's sandbox worker under the agent's uid, not by the gateway (root).
        Assert.NotEqual(0, FileOwner(Path.Combine(workspace, "copy.kbak")));
    }

    private static int FileOwner(string path)
    {
        var r = ProcessRunner.RunAsync("stat", ["-c", "%u", path], new Dictionary<string, string>(), Path.GetTempPath()).GetAwaiter().GetResult();
        return int.Parse(r.StdOut.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Should_refuse_to_create_or_restore_a_backup_while_the_vault_is_locked()
    {
        var name = "locked-" + Id();
        var token = await fixture.Gateway.CreateAgentAsync(name);
        var made = await fixture.CallAsync(token, Set("k", "backed-up"), ("state__backup__create", new { agent = name }), Set("k", "current"));
        var backupId = Ok(made, 1)["backup_id"]!.GetValue<string>();
        var vault = fixture.Gateway.Services.GetRequiredService<VaultAdmin>();
        var files = Directory.GetFiles(fixture.BackupDir).Length;

        Assert.True((await vault.LockAsync("user:backup-spec", CancellationToken.None)).IsOk);
        JsonArray run;
        try
        {
            run = await fixture.CallAsync(token, ("state__backup__create", new { agent = name }), ("state__backup__restore", new { backup_id = backupId }), Get("k"));
        }
        finally
        {
            var unlocked = await vault.UnlockAsync(BackupGateway.Passphrase.AsMemory(), "user:backup-spec", CancellationToken.None);
            Assert.True(unlocked.IsOk, unlocked.Error?.Message);
        }

        Assert.Equal("VaultLocked", ErrorType(run, 0));
        Assert.Equal("VaultLocked", ErrorType(run, 1));
        Assert.Equal("current", Ok(run, 2)["value"]!.GetValue<string>());
        Assert.Equal(files, Directory.GetFiles(fixture.BackupDir).Length);
    }

    [Fact]
    public async Task Should_restore_a_full_backup_into_a_fresh_data_directory_with_the_same_passphrase()
    {
        // arrange: on gateway A, an agent's persistent state (two versions) and a shared key, then a full backup by the operator
        var name = "fresh-" + Id();
        var sharedKey = "shared-" + Id();
        var token = await fixture.Gateway.CreateAgentAsync(name);
        var written = await fixture.CallAsync(token, Set("k", "one"), Set("k", "two"),
            ("state__shared__set", new { key = sharedKey, value = new { team = "blue" }, expected_version = 0 }));
        Ok(written, 2);
        var created = await fixture.Gateway.ControlAsync(ControlProtocol.Methods.BackupCreate);
        var backupId = created["backup_id"]!.GetValue<string>();
        Assert.Equal("full", created["scope"]!.GetValue<string>());
        var verified = await fixture.Gateway.ControlAsync(ControlProtocol.Methods.BackupVerify, new JsonObject { ["backup_id"] = backupId });
        Assert.Contains(name, verified["agents"]!.AsArray().Select(a => a!.GetValue<string>()));

        // act: a new gateway B with a new data directory and the same passphrase; the file copied into its backup directory
        await using var b = await BackupGateway.StartAsync();
        Directory.CreateDirectory(Path.Combine(b.DataDir, "backups"));
        File.Copy(Path.Combine(fixture.BackupDir, backupId + ".kbak"), Path.Combine(b.DataDir, "backups", backupId + ".kbak"));
        var commands = b.Services.GetRequiredService<KruxOS.Gateway.Control.ControlCommands>();
        async Task<ControlResponse> Control(string method, JsonObject p) =>
            ControlResponse.Parse(await commands.ExecuteAsync(null, method, p, CancellationToken.None));

        var withoutPassphrase = await Control(ControlProtocol.Methods.BackupRestore, new JsonObject { ["backup_id"] = backupId });
        var wrongPassphrase = await Control(ControlProtocol.Methods.BackupRestore, new JsonObject { ["backup_id"] = backupId, ["passphrase"] = "not the passphrase at all" });
        var restored = await Control(ControlProtocol.Methods.BackupRestore, new JsonObject { ["backup_id"] = backupId, ["passphrase"] = BackupGateway.Passphrase });

        // assert: refused without (another vault) and with a wrong passphrase; restored with the right one
        Assert.Equal("DecryptionFailed", withoutPassphrase.ErrorType);
        Assert.Equal("DecryptionFailed", wrongPassphrase.ErrorType);
        Assert.True(restored.Ok, restored.ErrorMessage);
        Assert.True(restored.Result!["shared_state_restored"]!.GetValue<bool>());
        Assert.Contains(name, restored.Result["agents_restored"]!.AsArray().Select(a => a!.GetValue<string>()));
        var state = b.Services.GetRequiredService<StateAccess>();
        var k = Assert.IsType<PersistentStateReplies.GetResult>(await state.PersistentAsync(new PersistentStateQueries.GetValue(AgentName.Parse(name), "k"), CancellationToken.None));
        Assert.Equal("\"two\"", k.Value.Text);
        Assert.Equal(2, k.Version);
        var history = Assert.IsType<PersistentStateReplies.HistoryResult>(
            await state.PersistentAsync(new PersistentStateQueries.GetHistory(AgentName.Parse(name), "k"), CancellationToken.None));
        Assert.Equal(2, history.Count);
        var shared = Assert.IsType<SharedStateReplies.GetResult>(await state.SharedAsync(new SharedStateQueries.GetShared(sharedKey), CancellationToken.None));
        Assert.Equal("""{"team":"blue"}""", shared.Value.Text);
        Assert.Equal(name, shared.OwnerAgent);
        // The operator's restore is in B's audit log (requested, then its outcome), without the passphrase.
        var audit = new AuditReader(Path.Combine(b.DataDir, "audit"));
        var page = await audit.QueryAsync(new AuditQuery { Capability = "state.backup.restore" }, CancellationToken.None);
        Assert.Contains(page.Entries, e => e.Entry.Status == AuditStatus.Success);
        Assert.DoesNotContain(page.Entries, e => System.Text.Json.JsonSerializer.Serialize(e.Entry).Contains(BackupGateway.Passphrase, StringComparison.Ordinal));
    }
}
