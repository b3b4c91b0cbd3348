using System.Collections.Immutable;
using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;
using Xunit;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateEvents;
using static KruxOS.Core.State.Persistent.PersistentStateQueries;
using static KruxOS.Core.State.Persistent.PersistentStateReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>Versions, pruning, quota, keys and output shapes of an agent's persistent state (pure).</summary>
public sealed class PersistentStateSpecs
{
    private static readonly PersistentStateLimits Limits = PersistentStateLimits.Default;

    private static PersistentState Run(PersistentState s, IPersistentStateCommand c, DateTimeOffset at, out IStateReply reply, PersistentStateLimits? limits = null)
    {
        var (r, events) = s.ProcessCommand(c, at, limits ?? Limits);
        reply = r;
        return s.ApplyAll(events);
    }

    private static PersistentState Set(PersistentState s, string key, string json, DateTimeOffset at, PersistentStateLimits? limits = null) =>
        Run(s, new SetValue(Builder, key, J(json)), at, out _, limits);

    [Fact]
    public void Should_number_every_set_as_a_new_version_and_report_the_previous_one()
    {
        var s = PersistentState.Empty(Builder);
        s = Run(s, new SetValue(Builder, "plan", J("""{"step":1}""")), T0, out var first);
        s = Run(s, new SetValue(Builder, "plan", J("""{"step":2}""")), T0.AddMinutes(1), out var second);
        Assert.Equal(new SetResult(1, 0), first);
        Assert.Equal(new SetResult(2, 1), second);
        var latest = Assert.IsType<GetResult>(s.Query(new GetValue(Builder, "plan"), Limits));
        Assert.Equal(new GetResult(J("""{"step":2}"""), 2, true, T0, T0.AddMinutes(1)), latest);
        var old = Assert.IsType<GetResult>(s.Query(new GetValue(Builder, "plan", 1), Limits));
        Assert.Equal(new GetResult(J("""{"step":1}"""), 1, true, T0, T0), old);
    }

    [Fact]
    public void Should_keep_exactly_100_versions_and_drop_the_oldest_at_the_101st_set()
    {
        var s = PersistentState.Empty(Builder);
        for (var i = 1; i <= 100; i++) s = Set(s, "counter", i.ToString(), T0.AddSeconds(i));
        Assert.Equal(100, s.Keys["counter"].Versions.Length);
        Assert.Equal(1, s.Keys["counter"].Versions[0].Version);

        var (reply, events) = s.ProcessCommand(new SetValue(Builder, "counter", J("101")), T0.AddSeconds(101), Limits);
        Assert.Equal(new SetResult(101, 100), reply);
        Assert.Equal(2, Assert.IsType<ValueSet>(Assert.Single(events)).OldestRetained);
        s = s.ApplyAll(events);

        var history = Assert.IsType<HistoryResult>(s.Query(new GetHistory(Builder, "counter"), Limits));
        Assert.Equal(100, history.Count);
        Assert.Equal(101, history.Versions[0].Version);
        Assert.Equal(2, history.Versions[^1].Version);
        var gone = Assert.IsType<StateRefused>(s.Query(new GetValue(Builder, "counter", 1), Limits));
        Assert.Equal("KeyNotFound", gone.Error.ErrorType);
        Assert.Equal(1, gone.Error.Context["version"].GetInt64());
        Assert.Equal(s.Keys["counter"].Charge(), s.UsedBytes);
    }

    [Fact]
    public void Should_refuse_a_set_over_the_quota_and_leave_the_previous_value_and_its_history_intact()
    {
        // arrange: a quota that fits the key and two 100-byte versions, not three (history counts)
        var value = "\"" + new string('x', 98) + "\"";
        var quota = StateAccounting.KeyCharge("doc") + 2 * (100 + StateAccounting.RecordOverheadBytes);
        var limits = Limits with { QuotaBytes = quota };
        var s = Set(PersistentState.Empty(Builder), "doc", value, T0, limits);
        s = Set(s, "doc", value.Replace('x', 'y'), T0.AddSeconds(1), limits);
        Assert.Equal(quota, s.UsedBytes);

        // act
        var (reply, events) = s.ProcessCommand(new SetValue(Builder, "doc", J(value.Replace('x', 'z'))), T0.AddSeconds(2), limits);

        // assert
        var refused = Assert.IsType<StateRefused>(reply);
        Assert.Empty(events);
        Assert.Equal("QuotaExceeded", refused.Error.ErrorType);
        Assert.False(refused.Error.Retryable);
        Assert.Equal(quota, refused.Error.Context["limit_bytes"].GetInt64());
        Assert.Equal(quota + 100 + StateAccounting.RecordOverheadBytes, refused.Error.Context["required_bytes"].GetInt64());
        var current = Assert.IsType<GetResult>(s.Query(new GetValue(Builder, "doc"), Limits));
        Assert.Equal(J(value.Replace('x', 'y')), current.Value);
        Assert.Equal(2, current.Version);
    }

    [Fact]
    public void Should_let_a_set_through_when_pruning_the_oldest_version_makes_room()
    {
        var value = "\"" + new string('x', 98) + "\"";
        var limits = Limits with { MaxVersions = 2, QuotaBytes = StateAccounting.KeyCharge("doc") + 2 * (100 + StateAccounting.RecordOverheadBytes) };
        var s = Set(PersistentState.Empty(Builder), "doc", value, T0, limits);
        s = Set(s, "doc", value, T0, limits);
        s = Run(s, new SetValue(Builder, "doc", J(value)), T0, out var reply, limits);
        Assert.Equal(new SetResult(3, 2), reply);
        Assert.Equal(limits.QuotaBytes, s.UsedBytes);
    }

    [Fact]
    public void Should_let_writes_that_do_not_grow_use_through_when_the_quota_was_lowered_below_use()
    {
        var s = Set(PersistentState.Empty(Builder), "a", "\"" + new string('x', 500) + "\"", T0);
        var lowered = Limits with { QuotaBytes = 10, MaxVersions = 1 };
        Run(s, new SetValue(Builder, "a", J("1")), T0, out var smaller, lowered);
        Assert.IsType<SetResult>(smaller);
        Run(s, new SetValue(Builder, "b", J("1")), T0, out var grows, lowered);
        Assert.Equal("QuotaExceeded", Assert.IsType<StateRefused>(grows).Error.ErrorType);
    }

    [Fact]
    public void Should_charge_the_canonical_form_so_formatting_does_not_change_the_size()
    {
        var spaced = StoredJson.Parse("{ \"b\" : [1, 2],\n  \"a\": true }");
        Assert.Equal("""{"a":true,"b":[1,2]}""", spaced.Text);
        var s = Run(PersistentState.Empty(Builder), new SetValue(Builder, "k", spaced), T0, out _);
        Assert.Equal(StateAccounting.KeyCharge("k") + spaced.ByteCount + StateAccounting.RecordOverheadBytes, s.UsedBytes);
    }

    [Fact]
    public void Should_delete_every_version_and_start_again_at_version_1()
    {
        var s = Set(Set(PersistentState.Empty(Builder), "k", "1", T0), "k", "2", T0);
        s = Run(s, new DeleteKey(Builder, "k"), T0, out var deleted);
        Assert.Equal(new DeleteResult(true), deleted);
        Assert.Equal(0, s.UsedBytes);
        Assert.Equal(new GetResult(StoredJson.Null, 0, false, null, null), s.Query(new GetValue(Builder, "k"), Limits));
        Assert.Equal("KeyNotFound", Assert.IsType<StateRefused>(s.Query(new GetHistory(Builder, "k"), Limits)).Error.ErrorType);
        s = Run(s, new SetValue(Builder, "k", J("3")), T0, out var again);
        Assert.Equal(new SetResult(1, 0), again);
        Run(s, new DeleteKey(Builder, "missing"), T0, out var missing);
        Assert.Equal("KeyNotFound", Assert.IsType<StateRefused>(missing).Error.ErrorType);
    }

    public static TheoryData<string, string> BadKeys() => new()
    {
        { "", "must not be empty" },
        { new string('k', 257), "at most 256 bytes" },
        { new string('é', 129), "at most 256 bytes" },
        { "a\u0001b", "control characters" },
        { "a\u007fb", "control characters" },
        { "a\u0085b", "control characters" },
        { "a\nb", "control characters" },
        { "pay\u202Eload", "format characters" },
        { "a\u200Bb", "format characters" },
        { "\uFEFFkey", "format characters" },
        { "a\u2028b", "line or paragraph separators" },
        { "a\uD800b", "lone surrogate" },
        { "a\uDC00", "lone surrogate" },
        { "\uD83D", "lone surrogate" },
        { "a\uFFFF", "noncharacters" },
        { " key", "white space" },
        { "key ", "white space" },
        { "cafe\u0301", "normalization form C" },
    };

    [Theory]
    [MemberData(nameof(BadKeys), DisableDiscoveryEnumeration = true)]
    public void Should_refuse_a_key_that_is_not_what_it_looks_like_as_invalid_input(string key, string reason)
    {
        var (reply, events) = PersistentState.Empty(Builder).ProcessCommand(new SetValue(Builder, key, J("1")), T0, Limits);
        var refused = Assert.IsType<StateRefused>(reply);
        Assert.Empty(events);
        Assert.Equal("InvalidInput", refused.Error.ErrorType);
        Assert.Equal("key", refused.Error.ContextString("field"));
        Assert.Contains(reason, refused.Error.ContextString("reason"));
        Assert.IsType<StateRefused>(PersistentState.Empty(Builder).Query(new GetValue(Builder, key), Limits));
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("project/日本/設定")]
    [InlineData("🔑 secrets-of-mine")]
    [InlineData("caf\u00e9")]
    [InlineData("a")]
    public void Should_accept_printable_unicode_keys(string key)
    {
        var (reply, _) = PersistentState.Empty(Builder).ProcessCommand(new SetValue(Builder, key, J("1")), T0, Limits);
        Assert.IsType<SetResult>(reply);
        Assert.Null(StateKeys.Validate(new string('k', 256)));
    }

    [Fact]
    public void Should_list_keys_in_ordinal_order_with_their_quota_charge()
    {
        var s = PersistentState.Empty(Builder);
        foreach (var k in new[] { "b/2", "a", "B", "b/1", "_" }) s = Set(s, k, "\"v\"", T0);
        s = Set(s, "b/1", "\"w\"", T0.AddMinutes(1));
        var all = Assert.IsType<ListResult>(s.Query(new ListKeys(Builder), Limits));
        Assert.Equal(["B", "_", "a", "b/1", "b/2"], all.Entries.Select(e => e.Key));
        Assert.Equal(s.UsedBytes, all.TotalSizeBytes);
        Assert.Equal(s.Keys["b/1"].Charge(), all.Entries[3].SizeBytes);
        Assert.Equal(2, all.Entries[3].Version);
        Assert.Equal(T0.AddMinutes(1), all.Entries[3].UpdatedAt);
        var some = Assert.IsType<ListResult>(s.Query(new ListKeys(Builder, "b/"), Limits));
        Assert.Equal(2, some.Count);
        Assert.Equal(some.Entries.Sum(e => e.SizeBytes), some.TotalSizeBytes);
    }

    [Fact]
    public void Should_query_latest_values_by_prefix_and_refuse_an_answer_larger_than_a_reply()
    {
        var s = Set(Set(Set(PersistentState.Empty(Builder), "cfg/a", "1", T0), "cfg/b", "\"two\"", T0), "other", "3", T0);
        var q = Assert.IsType<QueryResult>(s.Query(new QueryPrefix(Builder, "cfg/"), Limits));
        Assert.Equal([J("1"), J("\"two\"")], q.Entries.Select(e => e.Value));
        Assert.Equal(2, q.Count);

        var big = Set(PersistentState.Empty(Builder), "x", "\"" + new string('x', 2000) + "\"", T0);
        var tooLarge = Assert.IsType<StateRefused>(big.Query(new QueryPrefix(Builder, ""), Limits with { MaxResultBytes = 1000 }));
        Assert.Equal("ResultTooLarge", tooLarge.Error.ErrorType);
        Assert.Equal(1000, tooLarge.Error.Context["limit_bytes"].GetInt64());
    }

    [Fact]
    public void Should_return_history_newest_first_up_to_the_limit()
    {
        var s = PersistentState.Empty(Builder);
        for (var i = 1; i <= 5; i++) s = Set(s, "k", i.ToString(), T0.AddMinutes(i));
        var h = Assert.IsType<HistoryResult>(s.Query(new GetHistory(Builder, "k", 2), Limits));
        Assert.Equal([5L, 4L], h.Versions.Select(v => v.Version));
        Assert.Equal(T0.AddMinutes(1), h.Versions[0].CreatedAt);
        Assert.Equal(T0.AddMinutes(5), h.Versions[0].UpdatedAt);
        Assert.Equal("InvalidInput", Assert.IsType<StateRefused>(s.Query(new GetHistory(Builder, "k", 0), Limits)).Error.ErrorType);
    }

    [Fact]
    public void Should_refuse_a_value_over_the_value_limit_and_a_command_for_another_agent()
    {
        var (big, _) = PersistentState.Empty(Builder).ProcessCommand(new SetValue(Builder, "k", J("\"" + new string('x', 100) + "\"")), T0,
            Limits with { MaxValueBytes = 50 });
        Assert.Equal("value", Assert.IsType<StateRefused>(big).Error.ContextString("field"));
        var (other, events) = PersistentState.Empty(Builder).ProcessCommand(new SetValue(Reviewer, "k", J("1")), T0, Limits);
        Assert.IsType<StateRefused>(other);
        Assert.Empty(events);
        Assert.IsType<StateRefused>(PersistentState.Empty(Builder).Query(new GetValue(Reviewer, "k"), Limits));
    }

    [Fact]
    public void Should_report_quota_use_as_agent_session_shows_it()
    {
        var s = Set(PersistentState.Empty(Builder), "k", "1", T0);
        var usage = Assert.IsType<UsageResult>(s.Query(new GetUsage(Builder), Limits with { QuotaBytes = 1000 }));
        Assert.Equal(new UsageResult(s.UsedBytes, 1000, Math.Round(s.UsedBytes / 10.0, 2), 1), usage);
    }

    [Fact]
    public void Should_shape_every_output_exactly_as_the_spec()
    {
        var s = Set(PersistentState.Empty(Builder), "k", """{"n":1}""", T0);
        Assert.Equal(["value", "version", "found", "created_at", "updated_at"], WireFields(s.Query(new GetValue(Builder, "k"), Limits)));
        Assert.Equal("""{"value":{"n":1},"version":1,"found":true,"created_at":"2026-03-25T14:00:00+00:00","updated_at":"2026-03-25T14:00:00+00:00"}""",
            Wire(s.Query(new GetValue(Builder, "k"), Limits)));
        Assert.Equal("""{"value":null,"version":0,"found":false,"created_at":null,"updated_at":null}""", Wire(s.Query(new GetValue(Builder, "nope"), Limits)));
        Assert.Equal(["version", "previous_version"], WireFields(new SetResult(2, 1)));
        Assert.Equal(["deleted"], WireFields(new DeleteResult(true)));
        var list = s.Query(new ListKeys(Builder), Limits);
        Assert.Equal(["entries", "count", "total_size_bytes"], WireFields(list));
        Assert.Equal("""{"key":"k","version":1,"size_bytes":""" + s.UsedBytes + ""","updated_at":"2026-03-25T14:00:00+00:00"}""",
            Wire(((ListResult)list).Entries[0]));
        var query = (QueryResult)s.Query(new QueryPrefix(Builder, "k"), Limits);
        Assert.Equal(["entries", "count"], WireFields(query));
        Assert.Equal(["key", "value", "version", "created_at", "updated_at"], WireFields(query.Entries[0]));
        var history = (HistoryResult)s.Query(new GetHistory(Builder, "k"), Limits);
        Assert.Equal(["versions", "count"], WireFields(history));
        Assert.Equal(["value", "version", "created_at", "updated_at"], WireFields(history.Versions[0]));
    }

    [Fact]
    public void Should_rebuild_the_same_state_from_a_snapshot_and_recompute_quota_use()
    {
        var s = PersistentState.Empty(Builder);
        for (var i = 0; i < 30; i++) s = Set(s, "k" + (i % 7), $$"""{"i":{{i}}}""", T0.AddSeconds(i));
        s = Run(s, new DeleteKey(Builder, "k3"), T0.AddMinutes(1), out _);
        var back = PersistentState.FromSnapshot(s.ToSnapshot());
        Assert.Equal(s.UsedBytes, back.UsedBytes);
        Assert.Equal(s.Keys.Keys, back.Keys.Keys);
        Assert.Equal(Wire(s.ToSnapshot()), Wire(back.ToSnapshot()));
    }

    [Fact]
    public void Should_refuse_to_load_a_damaged_snapshot()
    {
        var v = new PersistentVersion(1, J("1"), T0);
        PersistentStateSnapshot Snap(params PersistentKey[] keys) => new(Builder, [.. keys]);
        Assert.Throws<InvalidDataException>(() => PersistentState.FromSnapshot(Snap(new PersistentKey("a", T0, [v]), new PersistentKey("a", T0, [v]))));
        Assert.Throws<InvalidDataException>(() => PersistentState.FromSnapshot(Snap(new PersistentKey("a\u202e", T0, [v]))));
        Assert.Throws<InvalidDataException>(() => PersistentState.FromSnapshot(Snap(new PersistentKey("a", T0, [v with { Version = 2 }, v]))));
        Assert.Throws<InvalidDataException>(() => PersistentState.FromSnapshot(Snap(new PersistentKey("a", T0, []))));
    }

    [Fact]
    public void Should_replay_to_the_same_state_whenever_it_is_replayed()
    {
        var events = new List<IPersistentStateEvent>();
        var s = PersistentState.Empty(Builder);
        for (var i = 0; i < 250; i++)
        {
            var (_, e) = s.ProcessCommand(new SetValue(Builder, "k" + (i % 3), J(i.ToString())), T0.AddSeconds(i), Limits);
            events.AddRange(e);
            s = s.ApplyAll(e);
        }
        var replayed = PersistentState.Empty(Builder).ApplyAll(events);
        Assert.Equal(Wire(s.ToSnapshot()), Wire(replayed.ToSnapshot()));
        Assert.Equal(s.UsedBytes, replayed.UsedBytes);
    }

    [Fact]
    public void Should_bound_replay_by_events_or_bytes_since_the_last_snapshot()
    {
        var cadence = new SnapshotCadence(100, 1000);
        Assert.False(cadence.IsDue(99, 999));
        Assert.True(cadence.IsDue(100, 0));
        Assert.True(cadence.IsDue(1, 1000));
        Assert.Equal(5 + 3, PersistentStateExtensions.ReplayBytes(new ValueSet("abcde", 1, J("123"), 1, T0)));
    }

    /// <summary>The journal's options (KruxSerializer: CoreJson with CLR property names).</summary>
    private static readonly System.Text.Json.JsonSerializerOptions Journal = new(CoreJson.Options) { PropertyNamingPolicy = null };

    [Theory]
    [InlineData("0", "k")]
    [InlineData("null", "a-much-longer-key/with/some/structure/in-it")]
    [InlineData("\"\"", "日本語のキー")]
    [InlineData("""{"a":[1,2,3],"b":"text with \"quotes\" and \\ slashes"}""", "k")]
    public void Should_store_a_snapshot_no_larger_than_the_quota_it_is_charged_so_recovery_of_a_full_quota_is_bounded(string value, string keyStem)
    {
        // worst case for overhead: many keys, many tiny versions each
        var s = PersistentState.Empty(Builder);
        for (var k = 0; k < 50; k++)
            for (var v = 0; v < 20; v++)
                s = Set(s, keyStem + k, value, T0.AddSeconds(k * 100 + v));
        var bytes = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(s.ToSnapshot(), Journal);
        Assert.True(bytes.Length <= s.UsedBytes, $"snapshot {bytes.Length} bytes, charged {s.UsedBytes}");
    }

    [Fact]
    public void Should_count_retained_versions_against_the_quota_so_history_cannot_multiply_storage()
    {
        // 100 versions of a 1,000-byte value cost 100 times as much as one
        var value = "\"" + new string('x', 998) + "\"";
        var s = PersistentState.Empty(Builder);
        for (var i = 0; i < 100; i++) s = Set(s, "k", value, T0);
        Assert.Equal(StateAccounting.KeyCharge("k") + 100L * (1000 + StateAccounting.RecordOverheadBytes), s.UsedBytes);
        ImmutableArray<PersistentVersion> versions = s.Keys["k"].Versions;
        Assert.Equal(100, versions.Length);
    }
}
