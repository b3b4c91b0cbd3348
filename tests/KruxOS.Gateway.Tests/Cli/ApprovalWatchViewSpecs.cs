using System.Text.Json.Nodes;
using KruxOS.Cli;
using Xunit;

namespace KruxOS.Gateway.Tests.Cli;

/// <summary>What <c>kruxos approve watch</c> shows and what each key or line means (pure).</summary>
public sealed class ApprovalWatchViewSpecs
{
    private static PendingApproval P(string id) => new(id, "bot", "system.time", """{"timezone":"UTC"}""");

    private static JsonNode Event(string type, string id) => new JsonObject
    {
        ["type"] = type, ["agent"] = "bot",
        ["data"] = new JsonObject { ["approval_id"] = id, ["capability"] = "system.time", ["arguments"] = new JsonObject { ["timezone"] = "UTC" } },
    };

    [Fact]
    public void Should_add_requested_approvals_once_and_drop_resolved_ones()
    {
        var view = new ApprovalWatchView();
        Assert.True(view.Apply(Event("approval_requested", "appr-1")));
        Assert.False(view.Apply(Event("approval_requested", "appr-1")));
        Assert.True(view.Apply(Event("approval_requested", "appr-2")));
        Assert.Equal(["appr-1", "appr-2"], view.Pending.Select(p => p.Id));
        Assert.True(view.Apply(Event("approval_resolved", "appr-1")));
        Assert.Equal("appr-2", Assert.Single(view.Pending).Id);
        Assert.False(view.Apply(JsonNode.Parse("""{"type":"capability_invoked","data":{}}""")));
        Assert.False(view.Apply(null));
    }

    [Fact]
    public void Should_decide_the_selected_approval_with_a_and_r_and_move_the_selection_with_j_and_k()
    {
        var view = new ApprovalWatchView();
        view.Add(P("appr-1"));
        view.Add(P("appr-2"));
        view.Add(P("appr-3"));
        Assert.Equal(new WatchCommand.Decide("appr-1", true, ApprovalWatchView.DefaultReason), view.Interpret('a'));
        view.MoveSelection(((WatchCommand.Move)view.Interpret('j')).Delta);
        Assert.Equal(new WatchCommand.Decide("appr-2", false, ApprovalWatchView.DefaultReason), view.Interpret('r'));
        view.MoveSelection(5);
        Assert.Equal("appr-3", view.Selected!.Id);
        view.MoveSelection(((WatchCommand.Move)view.Interpret('k')).Delta);
        Assert.Equal("appr-2", view.Selected!.Id);
        Assert.Contains("> appr-2", string.Join("\n", view.Render()));
        Assert.IsType<WatchCommand.Quit>(view.Interpret('q'));
        Assert.IsType<WatchCommand.None>(view.Interpret('x'));
    }

    [Fact]
    public void Should_keep_the_selection_on_a_neighbour_when_the_selected_approval_is_resolved()
    {
        var view = new ApprovalWatchView();
        view.Add(P("appr-1"));
        view.Add(P("appr-2"));
        view.MoveSelection(1);
        Assert.True(view.Remove("appr-2"));
        Assert.Equal("appr-1", view.Selected!.Id);
        Assert.True(view.Remove("appr-1"));
        Assert.Null(view.Selected);
        Assert.IsType<WatchCommand.Invalid>(view.Interpret('a'));
        Assert.Equal(["no approvals pending"], view.Render());
    }

    [Theory]
    [InlineData("a", "appr-1", true, ApprovalWatchView.DefaultReason)]
    [InlineData("r looks wrong", "appr-1", false, "looks wrong")]
    [InlineData("a appr-2", "appr-2", true, ApprovalWatchView.DefaultReason)]
    [InlineData("  r appr-2   not today ", "appr-2", false, "not today")]
    public void Should_read_decisions_from_lines(string line, string id, bool approve, string reason)
    {
        var view = new ApprovalWatchView();
        view.Add(P("appr-1"));
        view.Add(P("appr-2"));
        Assert.Equal(new WatchCommand.Decide(id, approve, reason), view.Interpret(line));
    }

    [Fact]
    public void Should_refuse_lines_it_does_not_understand_and_a_bare_decision_with_nothing_pending()
    {
        var view = new ApprovalWatchView();
        Assert.IsType<WatchCommand.Invalid>(view.Interpret("approve everything"));
        Assert.IsType<WatchCommand.Invalid>(view.Interpret("a"));
        Assert.IsType<WatchCommand.None>(view.Interpret("   "));
        Assert.IsType<WatchCommand.Quit>(view.Interpret("q"));
        Assert.Equal(new WatchCommand.Decide("appr-9", true, ApprovalWatchView.DefaultReason), view.Interpret("a appr-9"));
    }
}
