using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Bridge.Tests.Support;
using KruxOS.Core.Audit;
using KruxOS.Core.Control;
using KruxOS.Testing;

namespace KruxOS.Bridge.Tests.EndToEnd;

/// <summary>
/// A held call is never stranded (issue 21, ADR 0058), on one node: the real mcp-bridge process holds a call for approval
/// through a gateway process that is killed with SIGKILL and started again on the same data directory. The bridge
/// reconnects and sends the call again with its key; the gateway re-attaches it to the same approval; accepting it runs it
/// once and the client gets the real result. <c>system.time</c> runs in process, so no sandbox is needed.
/// </summary>
public sealed class HeldCallKillTests
{
    private const string Agent = "held-kill";

    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("never happened: " + what);
            await Task.Delay(100);
        }
    }

    private static async Task<List<AuditEntry>> CallEntriesAsync(string dataDir, string approvalId) =>
        [.. (await new AuditReader(Path.Combine(dataDir, "audit")).QueryAsync(new AuditQuery { Agent = Agent, ApprovalRequestId = approvalId, Limit = AuditQuery.MaxLimit, Ascending = true }))
            .Entries.OrderBy(e => e.Position.File, StringComparer.Ordinal).ThenBy(e => e.Position.EntryIndex) // chain order: a final entry is stamped with its run's start
            .Select(e => e.Entry).Where(e => e.Kind == AuditEntryKind.Call)];

    [Fact]
    public async Task A_call_held_when_the_gateway_is_killed_reattaches_after_the_restart_and_runs_once_when_accepted()
    {
        // arrange: a gateway process whose policy holds system.time for the agent, and the bridge holding one call
        var dataDir = TestPolicies.DataDirWithAgentPolicy("kruxos-held-kill-", Agent);
        var gw = await GatewayOsProcess.StartAsync(dataDir);
        try
        {
            var created = await gw.ControlAsync(ControlProtocol.Methods.AgentCreate, new JsonObject { ["name"] = Agent, ["purpose"] = "held across a kill" });
            Assert.True(created.Ok, created.ErrorMessage);
            var token = created.Result!["token"]!.GetValue<string>();
            await using var bridge = BridgeProcess.Start(new Dictionary<string, string>
            {
                ["KRUXOS_ENDPOINT"] = $"ws://127.0.0.1:{gw.GatewayPort}", ["KRUXOS_AGENT_NAME"] = Agent, ["KRUXOS_AGENT_TOKEN"] = token, ["KRUXOS_LOG"] = "debug",
            });
            await bridge.SendAsync(BridgeProcess.Initialize(1));
            Assert.NotNull((await bridge.ReadAnswerAsync(1)).Answer["result"]);
            await bridge.SendAsync(BridgeProcess.Initialized);
            await bridge.SendAsync(BridgeProcess.Call(2, "system__time", """{"timezone":"UTC"}"""));
            string? id = null;
            var seen = "";
            try
            {
                await UntilAsync(async () =>
                {
                    var list = await gw.ControlAsync(ControlProtocol.Methods.ApprovalList);
                    seen = list.Result?.ToJsonString() ?? list.ErrorMessage ?? "";
                    id = list.Result?["approvals"]?.AsArray().SingleOrDefault()?["id"]?.GetValue<string>();
                    return id is not null && (await CallEntriesAsync(dataDir, id)).Any(e => e.Status == AuditStatus.Pending);
                }, "the call held, its pending entry in the audit log");
            }
            catch (TimeoutException e)
            {
                throw new TimeoutException($"{e.Message}; approvals: {seen}; bridge:\n{bridge.StdErr}", e);
            }

            // act: kill -9 the gateway while the call is held, and start it again on the same data directory and ports
            gw.KillHard();
            await bridge.WaitForLogAsync("reconnecting in");
            await gw.StartAgainAsync();
            await bridge.WaitForLogAsync("initialize replayed");
            // the re-sent call is held on the same approval again (a second pending entry under the same id)
            await UntilAsync(async () => (await CallEntriesAsync(dataDir, id!)).Count(e => e.Status == AuditStatus.Pending) == 2, "the re-sent call held again");

            // act: accept it
            var approved = await gw.ControlAsync(ControlProtocol.Methods.ApprovalApprove, new JsonObject { ["id"] = id, ["reason"] = "fine" });
            Assert.True(approved.Ok, approved.ErrorMessage);

            // assert: the client gets the real result, once
            var (answer, before) = await bridge.ReadAnswerAsync(2, TestTimeouts.Process);
            Assert.True(answer["result"] is JsonObject, answer.ToJsonString());
            Assert.False(answer["result"]!["isError"]?.GetValue<bool>() ?? false, answer.ToJsonString());
            Assert.Contains("UTC", answer["result"]!["content"]![0]!["text"]!.GetValue<string>(), StringComparison.Ordinal);
            Assert.DoesNotContain(before, m => m["id"] is not null && m["method"] is null);

            // assert: one approval (no second request), spent once; the call's trail ends with its outcome
            var all = (await gw.ControlAsync(ControlProtocol.Methods.ApprovalList, new JsonObject { ["status"] = "all" })).Result!["approvals"]!.AsArray();
            var only = Assert.Single(all)!;
            Assert.Equal((id, "consumed"), (only["id"]!.GetValue<string>(), only["status"]!.GetValue<string>()));
            List<AuditEntry> trail = [];
            await UntilAsync(async () => (trail = await CallEntriesAsync(dataDir, id!)).Count == 3, "the call's final entry");
            Assert.Equal([AuditStatus.Pending, AuditStatus.Pending, AuditStatus.Success], trail.Select(e => e.Status));
            Assert.Equal("approved", trail[^1].Metadata.ApprovalDecision);

            bridge.CloseStdin();
            Assert.Equal(0, await bridge.WaitForExitAsync());
            Assert.DoesNotContain(token, bridge.StdErr, StringComparison.Ordinal);
        }
        catch
        {
            Console.Error.WriteLine(gw.Log());
            throw;
        }
        finally
        {
            await gw.DisposeAsync();
            try { Directory.Delete(Path.GetDirectoryName(dataDir)!, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
