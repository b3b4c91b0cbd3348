using System.Text.Json;
using KruxOS.Actors.Approvals;
using KruxOS.Core.Agents;
using KruxOS.Core.Approvals;
using KruxOS.Core.Sessions;
using Xunit;

namespace KruxOS.Actors.Tests.Approvals;

/// <summary>The agents' approval poll: an agent learns the state of its own approvals and nothing about anyone else's.</summary>
public sealed class ApprovalCheckSpecs
{
    private static readonly AgentName Owner = AgentName.Parse("builder");
    private static readonly AgentName Other = AgentName.Parse("intruder");
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static (ApprovalIndex Index, ApprovalId Id) Indexed()
    {
        var id = ApprovalId.New();
        var args = JsonDocument.Parse("""{"command":"ls"}""").RootElement.Clone();
        var request = new ApprovalRequest(id, Principal.ForAgent(Owner), Owner, "sess-1", "process.run", ApprovalArguments.Redact(args),
            ApprovalArguments.Hash(args), "org.yaml:3", "rev-1", "needs a human", new ClientInfo("spec", "1"), Now, Now.AddHours(1));
        var index = new ApprovalIndex();
        index.Publish(ApprovalState.Empty with { Request = request }, 1);
        return (index, id);
    }

    [Fact]
    public void Should_show_an_agent_its_own_approval()
    {
        var (index, id) = Indexed();
        var found = Assert.IsType<ApprovalPoll.Found>(ApprovalCheck.Find(index, Owner, id.Value));
        Assert.Equal(id, found.Id);
        Assert.Equal(ApprovalStatus.Pending, found.State.Status);
    }

    [Fact]
    public void Should_report_another_agents_approval_exactly_as_an_unknown_id()
    {
        // arrange: the intruder learned (or guessed) the owner's approval id
        var (index, id) = Indexed();
        // act
        var foreign = ApprovalCheck.Find(index, Other, id.Value);
        var unknown = ApprovalCheck.Find(index, Other, ApprovalId.New().Value);
        // assert: the same answer shape as for an id that does not exist, so a poll confirms nothing
        Assert.Equal(new ApprovalPoll.NotFound(id), foreign);
        Assert.IsType<ApprovalPoll.NotFound>(unknown);
    }

    [Fact]
    public void Should_show_a_caller_acting_for_no_agent_nothing()
    {
        var (index, id) = Indexed();
        Assert.Equal(new ApprovalPoll.NotFound(id), ApprovalCheck.Find(index, null, id.Value));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("appr-")]
    [InlineData("APPR-0011")]
    [InlineData("appr-../../etc")]
    [InlineData("appr-\u0000")]
    public void Should_refuse_text_that_is_not_an_approval_id(string? text)
    {
        var (index, _) = Indexed();
        Assert.Same(ApprovalPoll.InvalidId.Instance, ApprovalCheck.Find(index, Owner, text));
    }
}
