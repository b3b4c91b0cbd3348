using KruxOS.Core.Approvals;
using Xunit;

namespace KruxOS.Core.Tests.Approvals;

/// <summary>The dedupe rule: join this session's in-flight request, else the index's open one, else a new one; never a closed one.</summary>
public sealed class ApprovalJoinSpecs
{
    private static readonly ApprovalId Mine = ApprovalId.New();
    private static readonly ApprovalId Open = ApprovalId.New();
    private static readonly ApprovalId Fresh = ApprovalId.New();

    [Fact]
    public void Should_join_the_sessions_in_flight_request_first()
    {
        Assert.Equal(new ApprovalChoice(Mine, false), ApprovalJoin.Choose(Mine, Open, null, () => Fresh));
    }

    [Fact]
    public void Should_join_the_index_open_approval_when_none_is_in_flight()
    {
        Assert.Equal(new ApprovalChoice(Open, false), ApprovalJoin.Choose(null, Open, null, () => Fresh));
    }

    [Fact]
    public void Should_request_a_new_approval_when_there_is_nothing_to_join()
    {
        Assert.Equal(new ApprovalChoice(Fresh, true), ApprovalJoin.Choose(null, null, null, () => Fresh));
    }

    [Fact]
    public void Should_never_join_the_approval_the_call_found_closed()
    {
        Assert.Equal(new ApprovalChoice(Open, false), ApprovalJoin.Choose(Mine, Open, Mine, () => Fresh));
        Assert.Equal(new ApprovalChoice(Fresh, true), ApprovalJoin.Choose(Mine, Mine, Mine, () => Fresh));
        Assert.Equal(new ApprovalChoice(Fresh, true), ApprovalJoin.Choose(null, Open, Open, () => Fresh));
    }
}
