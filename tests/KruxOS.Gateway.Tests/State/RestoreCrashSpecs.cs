using System.Diagnostics;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Cli;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.State;

/// <summary>
/// A restore interrupted by a crash changes nothing (issue 18, ADR 0060 "Crash during a restore"): a real gateway process
/// (embedded SQLite) is SIGKILLed in the middle of a full restore — after the first agent holds the backup's state, before the
/// last one does — and restarted on the same data directory. At start-up the undo log written before the first write is put
/// back: every agent's persistent state (values, versions, history) and every shared key (values, owners, which keys exist)
/// are what they were before the restore, the put-back is in the audit log as a system action, and the log is gone.
/// </summary>
public sealed class RestoreCrashSpecs
{
    private const int Agents = 12;
    private const int BlobsPerAgent = 3;
    private const int SharedKeys = 200;
    private const string Passphrase = "restore crash spec passphrase, long enough";

    private static string Agent(int i) => $"rc-{i:00}";

    [Fact]
    public async Task Should_put_every_part_back_at_start_up_when_the_gateway_is_killed_mid_restore()
    {
        var dataDir = Directory.CreateTempSubdirectory("kruxos-restore-crash-").FullName;
        var env = new Dictionary<string, string> { ["KRUXOS_VAULT_PASSPHRASE"] = Passphrase };
        var undoLog = Path.Combine(dataDir, "state", "restore", "undo.jsonl");
        try
        {
            Dictionary<string, string> persistentBefore;
            Dictionary<string, JsonNode> sharedBefore;
            string backupId;
            await using (var gateway = await GatewayOsProcess.StartAsync(dataDir, env))
            {
                var control = new ControlClient(gateway.ControlSocket);
                // arrange: agents with large states (so a restore takes seconds) and many shared keys, then a full backup
                var blob = new string('x', 900_000);
                for (var i = 0; i < Agents; i++)
                {
                    await OkAsync(control, ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = Agent(i), ["purpose"] = "restore crash spec" });
                    for (var b = 0; b < BlobsPerAgent; b++) await SetAsync(control, Agent(i), $"blob-{b}", JsonValue.Create(blob + b));
                    await SetAsync(control, Agent(i), "marker", JsonValue.Create("backed-up-1"));
                    await SetAsync(control, Agent(i), "marker", JsonValue.Create("backed-up-2"));
                }
                for (var k = 0; k < SharedKeys; k++)
                    await OkAsync(control, ControlProtocol.Methods.StateSharedSet, new JsonObject { ["key"] = $"rc-shared-{k:000}", ["value"] = "backed-up", ["expected_version"] = 0 });
                backupId = await CreateBackupAsync(control);
                // after the backup every part changes: new versions, a key deleted, keys added
                for (var i = 0; i < Agents; i++)
                {
                    await SetAsync(control, Agent(i), "marker", JsonValue.Create("current-3"));
                    await SetAsync(control, Agent(i), "after", JsonValue.Create(i));
                    await OkAsync(control, ControlProtocol.Methods.StateDelete, new JsonObject { ["agent"] = Agent(i), ["key"] = "blob-0" });
                }
                for (var k = 0; k < SharedKeys; k++)
                    await OkAsync(control, ControlProtocol.Methods.StateSharedSet, new JsonObject { ["key"] = $"rc-shared-{k:000}", ["value"] = "current", ["expected_version"] = 1 });
                await OkAsync(control, ControlProtocol.Methods.StateSharedSet, new JsonObject { ["key"] = "rc-created-after", ["value"] = "current", ["expected_version"] = 0 });
                await OkAsync(control, ControlProtocol.Methods.StateSharedDelete, new JsonObject { ["key"] = "rc-shared-000" });
                persistentBefore = await PersistentImageAsync(control);
                sharedBefore = await SharedImageAsync(control);

                // act: the operator's full restore runs; as soon as the first agent holds the backup's marker and the last agent
                // still holds its own, the process is SIGKILLed
                var restore = Task.Run(async () =>
                {
                    try
                    {
                        return await new ControlClient(gateway.ControlSocket).CallAsync(ControlProtocol.Methods.BackupRestore,
                            new JsonObject { ["backup_id"] = backupId }, CancellationToken.None);
                    }
                    catch (Exception e) when (e is GatewayUnreachableException or IOException or System.Net.Sockets.SocketException)
                    {
                        return null;
                    }
                });
                var clock = Stopwatch.StartNew();
                var midway = false;
                while (clock.Elapsed < TimeSpan.FromSeconds(120) && !restore.IsCompleted)
                {
                    if (await MarkerAsync(control, Agent(0)) == "backed-up-2")
                    {
                        midway = await MarkerAsync(control, Agent(Agents - 1)) == "current-3";
                        gateway.KillHard(processTree: true);
                        break;
                    }
                }
                var finished = await restore.WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
                Assert.True(midway, $"the kill did not land mid-restore (restore answered: {finished?.Ok} {finished?.ErrorMessage}); make the states larger");
                Assert.True(File.Exists(undoLog), "the undo log was not on disk mid-restore");
            }

            // assert: restarted on the same data directory, every part is as it was before the restore
            await using (var gateway = await GatewayOsProcess.StartAsync(dataDir, env))
            {
                var control = new ControlClient(gateway.ControlSocket);
                var clock = Stopwatch.StartNew();
                while (File.Exists(undoLog) && clock.Elapsed < TimeSpan.FromSeconds(90)) await Task.Delay(200, TestContext.Current.CancellationToken);
                var persistentAfter = await PersistentImageAsync(control);
                foreach (var (agent, was) in persistentBefore)
                    Assert.True(was == persistentAfter[agent], $"persistent state of {agent} changed:\nbefore {was}\nafter  {persistentAfter[agent]}");
                var sharedAfter = await SharedImageAsync(control);
                Assert.Equal(sharedBefore.Keys.Order(StringComparer.Ordinal), sharedAfter.Keys.Order(StringComparer.Ordinal));
                foreach (var (key, was) in sharedBefore)
                {
                    Assert.Equal(was["value"]!.ToJsonString(), sharedAfter[key]["value"]!.ToJsonString());
                    Assert.Equal(was["owner_agent"]?.ToJsonString(), sharedAfter[key]["owner_agent"]?.ToJsonString());
                    Assert.True(sharedAfter[key]["version"]!.GetValue<long>() >= was["version"]!.GetValue<long>(), $"shared key {key} went back a version");
                }
                Assert.False(File.Exists(undoLog), $"the undo log was not removed: {GatewayOsProcess.Tail(gateway.Log())}");
                // the put-back is audited as a system action: requested, then its success, naming the backup
                var audit = new AuditReader(Path.Combine(dataDir, "audit"));
                var entries = (await audit.QueryAsync(new AuditQuery { Capability = "state.backup.restore" }, CancellationToken.None)).Entries
                    .Where(e => e.Entry.Actor.Name == "system").ToList();
                Assert.Contains(entries, e => e.Entry.Status == AuditStatus.Pending);
                Assert.Contains(entries, e => e.Entry.Status == AuditStatus.Success && e.Entry.Inputs.GetRawText().Contains(backupId, StringComparison.Ordinal));
                // and a new restore runs again (nothing pending): the same backup now restores whole
                var again = await control.CallAsync(ControlProtocol.Methods.BackupRestore, new JsonObject { ["backup_id"] = backupId }, CancellationToken.None);
                Assert.True(again.Ok, again.ErrorMessage);
                Assert.Equal("backed-up-2", await MarkerAsync(control, Agent(Agents - 1)));
                Assert.False(File.Exists(undoLog));
            }
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    private static async Task<JsonNode?> OkAsync(ControlClient control, string method, JsonObject parameters)
    {
        var r = await control.CallAsync(method, parameters, CancellationToken.None);
        Assert.True(r.Ok, $"{method}: {r.ErrorType} {r.ErrorMessage}");
        return r.Result;
    }

    private static Task SetAsync(ControlClient control, string agent, string key, JsonNode? value) =>
        OkAsync(control, ControlProtocol.Methods.StateSet, new JsonObject { ["agent"] = agent, ["key"] = key, ["value"] = value });

    // The vault unlocks from the environment shortly after start: retried while it is still locked.
    private static async Task<string> CreateBackupAsync(ControlClient control)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var r = await control.CallAsync(ControlProtocol.Methods.BackupCreate, new JsonObject(), CancellationToken.None);
            if (r.Ok) return r.Result!["backup_id"]!.GetValue<string>();
            Assert.True(r.ErrorMessage?.Contains("lock", StringComparison.OrdinalIgnoreCase) == true && clock.Elapsed < TimeSpan.FromSeconds(60),
                $"backup.create: {r.ErrorType} {r.ErrorMessage}");
            await Task.Delay(200);
        }
    }

    private static async Task<string?> MarkerAsync(ControlClient control, string agent)
    {
        var r = await control.CallAsync(ControlProtocol.Methods.StateGet, new JsonObject { ["agent"] = agent, ["key"] = "marker" }, CancellationToken.None);
        return r.Ok ? r.Result?["value"]?.GetValue<string>() : null;
    }

    // Each agent: its keys (versions, sizes) and every retained version of the marker.
    private static async Task<Dictionary<string, string>> PersistentImageAsync(ControlClient control)
    {
        var image = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < Agents; i++)
        {
            var list = await OkAsync(control, ControlProtocol.Methods.StateList, new JsonObject { ["agent"] = Agent(i) });
            var text = list!.ToJsonString();
            for (var v = 1; v <= 3; v++)
            {
                var got = await control.CallAsync(ControlProtocol.Methods.StateGet, new JsonObject { ["agent"] = Agent(i), ["key"] = "marker", ["version"] = v },
                    CancellationToken.None);
                text += "\nmarker v" + v + ": " + (got.Ok ? got.Result!.ToJsonString() : got.ErrorType);
            }
            image[Agent(i)] = text;
        }
        return image;
    }

    private static async Task<Dictionary<string, JsonNode>> SharedImageAsync(ControlClient control)
    {
        var list = await OkAsync(control, ControlProtocol.Methods.StateSharedList, new JsonObject { ["prefix"] = "rc-" });
        var image = new Dictionary<string, JsonNode>(StringComparer.Ordinal);
        foreach (var entry in list!["entries"]!.AsArray())
        {
            var key = entry!["key"]!.GetValue<string>();
            image[key] = (await OkAsync(control, ControlProtocol.Methods.StateSharedGet, new JsonObject { ["key"] = key }))!;
        }
        return image;
    }
}
