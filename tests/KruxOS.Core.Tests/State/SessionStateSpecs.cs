using KruxOS.Core.State;
using KruxOS.Core.State.Session;
using Xunit;
using static KruxOS.Core.State.Session.SessionStateCommands;
using static KruxOS.Core.State.Session.SessionStateReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>Session state: the map, its quota, and checkpoints.</summary>
public sealed class SessionStateSpecs
{
    private const string Session = "sess-0123456789abcdef";
    private static readonly SessionStateLimits Limits = SessionStateLimits.Default;

    private static SessionState Run(SessionState s, ISessionStateCommand c, out IStateReply reply, SessionStateLimits? limits = null)
    {
        var (r, events) = s.ProcessCommand(c, T0, limits ?? Limits);
        reply = r;
        return s.ApplyAll(events);
    }

    [Fact]
    public void Should_set_get_overwrite_delete_list_and_clear_with_the_spec_shapes()
    {
        var s = SessionState.Empty(Builder, Session);
        s = Run(s, new SetSessionValue(Builder, Session, "b", J("1")), out var first);
        Assert.Equal(new SetResult(StoredJson.Null, false), first);
        Assert.Equal("""{"previous_value":null,"overwritten":false}""", Wire(first));
        s = Run(s, new SetSessionValue(Builder, Session, "b", J("2")), out var second);
        Assert.Equal(new SetResult(J("1"), true), second);
        s = Run(s, new SetSessionValue(Builder, Session, "a/x", J("""{"k":true}""")), out _);
        Run(s, new GetSessionValue(Builder, Session, "b"), out var got);
        Assert.Equal("""{"value":2,"found":true}""", Wire(got));
        Run(s, new GetSessionValue(Builder, Session, "zz"), out var missing);
        Assert.Equal("""{"value":null,"found":false}""", Wire(missing));
        Run(s, new ListSessionKeys(Builder, Session), out var list);
        Assert.Equal("""{"keys":["a/x","b"],"count":2}""", Wire(list));
        Run(s, new ListSessionKeys(Builder, Session, "a/"), out var some);
        Assert.Equal(1, ((ListResult)some).Count);
        s = Run(s, new DeleteSessionValue(Builder, Session, "b"), out var deleted);
        Assert.Equal("""{"previous_value":2,"deleted":true}""", Wire(deleted));
        Run(s, new DeleteSessionValue(Builder, Session, "b"), out var again);
        Assert.Equal(new DeleteResult(StoredJson.Null, false), again);
        s = Run(s, new ClearSession(Builder, Session), out var cleared);
        Assert.Equal("""{"removed_count":1}""", Wire(cleared));
        Assert.Equal(0, s.UsedBytes);
        Assert.Empty(s.Entries);
    }

    [Fact]
    public void Should_refuse_a_set_over_50_mb_and_keep_the_previous_value()
    {
        var limits = Limits with { QuotaBytes = 200 };
        var s = Run(SessionState.Empty(Builder, Session), new SetSessionValue(Builder, Session, "k", J("\"small\"")), out _, limits);
        var (reply, events) = s.ProcessCommand(new SetSessionValue(Builder, Session, "k", J("\"" + new string('x', 300) + "\"")), T0, limits);
        var refused = Assert.IsType<StateRefused>(reply);
        Assert.Equal("QuotaExceeded", refused.Error.ErrorType);
        Assert.Equal("session", refused.Error.ContextString("scope"));
        Assert.Empty(events);
        Run(s, new GetSessionValue(Builder, Session, "k"), out var got);
        Assert.Equal(J("\"small\""), ((GetResult)got).Value);
        Assert.Equal(50 * 1024 * 1024, SessionStateLimits.Default.QuotaBytes);
    }

    [Fact]
    public void Should_answer_session_not_found_for_another_session_or_agent()
    {
        var s = SessionState.Empty(Builder, Session);
        Run(s, new GetSessionValue(Builder, "sess-other", "k"), out var other);
        Assert.Equal("SessionNotFound", Assert.IsType<StateRefused>(other).Error.ErrorType);
        Run(s, new SetSessionValue(Reviewer, Session, "k", J("1")), out var stranger);
        Assert.Equal("SessionNotFound", Assert.IsType<StateRefused>(stranger).Error.ErrorType);
    }

    [Fact]
    public void Should_checkpoint_only_when_something_changed_and_restore_the_checkpointed_state()
    {
        var s = SessionState.Empty(Builder, Session);
        Assert.False(s.NeedsCheckpoint(0));
        s = Run(s, new SetSessionValue(Builder, Session, "k", J("[1,2]")), out _);
        s = Run(s, new SetSessionValue(Builder, Session, "j", J("3")), out _);
        Run(s, new GetSessionValue(Builder, Session, "k"), out _);
        Assert.True(s.NeedsCheckpoint(0));
        var checkpoint = s.Checkpoint(T0.AddSeconds(30));
        Assert.Equal(2, checkpoint.Revision);
        Assert.False(s.NeedsCheckpoint(checkpoint.Revision));

        var restored = SessionState.Restore(checkpoint, Builder, Session, Limits, out var reason);
        Assert.NotNull(restored);
        Assert.Empty(reason);
        Assert.Equal(s.UsedBytes, restored.UsedBytes);
        Assert.Equal(s.Entries.Keys, restored.Entries.Keys);
        Assert.False(restored.NeedsCheckpoint(checkpoint.Revision));
        Assert.Equal(TimeSpan.FromSeconds(30), SessionStateLimits.CheckpointInterval);
    }

    [Fact]
    public void Should_refuse_to_restore_another_agents_checkpoint_or_a_tampered_one()
    {
        var s = Run(SessionState.Empty(Builder, Session), new SetSessionValue(Builder, Session, "k", J("1")), out _);
        var checkpoint = s.Checkpoint(T0);
        Assert.Null(SessionState.Restore(checkpoint, Reviewer, Session, Limits, out var reason));
        Assert.Contains("another agent or session", reason);
        Assert.Null(SessionState.Restore(checkpoint, Builder, "sess-other", Limits, out _));
        var bidi = checkpoint with { Entries = [new SessionEntry("k\u202e", J("1"), T0)] };
        Assert.Null(SessionState.Restore(bidi, Builder, Session, Limits, out _));
        var twice = checkpoint with { Entries = [.. checkpoint.Entries, .. checkpoint.Entries] };
        Assert.Null(SessionState.Restore(twice, Builder, Session, Limits, out _));
        Assert.Null(SessionState.Restore(checkpoint, Builder, Session, Limits with { QuotaBytes = 10 }, out var over));
        Assert.Contains("quota", over);
    }
}
