using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Approvals;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Sessions;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Approvals;

/// <summary>Approvals on SQLite survive a full node stop/start: state, index and deadlines.</summary>
public sealed class ApprovalRestartSpecs
{
    private static ApprovalRequest Request(ApprovalId id, string text, TimeSpan hold)
    {
        var agent = AgentName.Parse("builder");
        var args = JsonDocument.Parse($$"""{"text":"{{text}}"}""").RootElement.Clone();
        var now = DateTimeOffset.UtcNow;
        return new ApprovalRequest(id, Principal.ForAgent(agent), agent, "sess-1", "test.echo", ApprovalArguments.Redact(args), ApprovalArguments.Hash(args),
            "test.yaml:1", "rev-1", "needs a human", new ClientInfo("spec", "1"), now, now + hold);
    }

    private static async Task<ApprovalResult> AskAsync(NodeHost node, IApprovalCommand command)
    {
        var region = await node.Registry.GetAsync<ApprovalRegion>();
        return await region.Ask<ApprovalResult>(command, TestTimeouts.Reply);
    }

    [Fact]
    public async Task Should_keep_pending_approvals_and_their_deadlines_across_a_full_node_restart()
    {
        using var dir = new TempDir();
        var settings = new KruxOsSettings { DataDir = dir.Path };
        var longOne = ApprovalId.New();
        var shortOne = ApprovalId.New();
        var decided = ApprovalId.New();

        // life 1: three requests, one rejected
        await using (var node = await NodeHost.StartAsync(settings))
        {
            Assert.True((await AskAsync(node, new ApprovalCommands.RequestApproval(Request(longOne, "a", TimeSpan.FromHours(1))))).IsOk);
            Assert.True((await AskAsync(node, new ApprovalCommands.RequestApproval(Request(shortOne, "b", TimeSpan.FromSeconds(6))))).IsOk);
            Assert.True((await AskAsync(node, new ApprovalCommands.RequestApproval(Request(decided, "c", TimeSpan.FromHours(1))))).IsOk);
            Assert.True((await AskAsync(node, new ApprovalCommands.Decide(decided, false, ApprovalDecider.ControlSocket(0), "no", DateTimeOffset.UtcNow))).IsOk);
            Assert.Equal(2, node.Services.GetRequiredService<ApprovalIndex>().PendingCount);
        }

        // life 2: the index is rebuilt from the journal, without waking any entity
        await using (var node = await NodeHost.StartAsync(settings))
        {
            var index = node.Services.GetRequiredService<ApprovalIndex>();
            await index.Ready.WaitAsync(TestTimeouts.Reply);
            Assert.Equal(ApprovalStatus.Pending, index.Get(longOne)!.Status);
            Assert.Equal(ApprovalStatus.Rejected, index.Get(decided)!.Status);
            Assert.Equal("no", index.Get(decided)!.Decision!.Reason);
            Assert.Equal(ApprovalDecider.ControlSocket(0), index.Get(decided)!.Decision!.Decider); // who decided survives the restart

            // the short deadline still fires after the restart (the clock was not reset), without anyone asking
            var deadline = index.Get(shortOne)!.Request!.Deadline;
            for (var i = 0; i < 200 && index.Get(shortOne)!.Status == ApprovalStatus.Pending; i++) await Task.Delay(100);
            Assert.Equal(ApprovalStatus.TimedOut, index.Get(shortOne)!.Status);
            Assert.True(index.Get(shortOne)!.ClosedAt >= deadline);

            // a decision after the restart, with nobody waiting, becomes a grant; a late decision is a conflict
            var grant = await AskAsync(node, new ApprovalCommands.Decide(longOne, true, ApprovalDecider.ControlSocket(0), "ok", DateTimeOffset.UtcNow));
            Assert.Equal(ApprovalStatus.Approved, grant.Status);
            var late = await AskAsync(node, new ApprovalCommands.Decide(shortOne, true, ApprovalDecider.ControlSocket(0), "", DateTimeOffset.UtcNow));
            Assert.Equal(409, late.HttpStatus);
            Assert.Equal(ApprovalStatus.TimedOut, late.Status);
        }

        // life 3: nothing reverted
        await using (var node = await NodeHost.StartAsync(settings))
        {
            var index = node.Services.GetRequiredService<ApprovalIndex>();
            await index.Ready.WaitAsync(TestTimeouts.Reply);
            Assert.Equal(ApprovalStatus.Approved, index.Get(longOne)!.Status);
            Assert.NotNull(index.Get(longOne)!.GrantUntil);
            Assert.Equal(ApprovalStatus.TimedOut, index.Get(shortOne)!.Status);
            Assert.Equal(ApprovalStatus.Rejected, index.Get(decided)!.Status);
            Assert.Equal(3, index.List(null).Count);
        }
    }
}
