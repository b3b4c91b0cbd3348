using KruxOS.Core.Alerts;
using KruxOS.Core.State;
using Xunit;
using static KruxOS.Core.Alerts.AlertCommands;
using static KruxOS.Core.Alerts.AlertEvents;
using static KruxOS.Core.Alerts.AlertReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.Alerts;

/// <summary>The alert store: dedup, visibility, acknowledgement, listing and bounds (pure).</summary>
public sealed class AlertStoreSpecs
{
    private static readonly AlertLimits Limits = AlertLimits.Default;
    private static readonly AlertViewer BuilderView = AlertViewer.ForAgent(Builder);

    private static AlertStore Raise(AlertStore store, string source, string message, out IAlertReply reply, AlertSeverity severity = AlertSeverity.Warning,
        string context = "{}", DateTimeOffset? at = null, AlertLimits? limits = null)
    {
        var (r, events) = store.ProcessCommand(new RaiseAlert(AlertIds.New(), source, severity, message, J(context)), at ?? T0, limits ?? Limits);
        reply = r;
        return store.ApplyAll(events);
    }

    [Fact]
    public void Should_collapse_identical_alerts_into_one_with_a_count_and_a_time_range()
    {
        var store = Raise(AlertStore.Empty, "builder", "disk nearly full", out var first, context: """{"disk":"/data","pct":91}""");
        store = Raise(store, "builder", "disk nearly full", out var second, context: """{ "pct":91, "disk":"/data" }""", at: T0.AddMinutes(5));
        store = Raise(store, "builder", "disk nearly full", out _, context: """{"pct":91,"disk":"/data"}""", at: T0.AddMinutes(9));

        var id = Assert.IsType<Sent>(first).AlertId;
        Assert.Equal(new Sent(id, "dashboard", AlertSeverity.Warning), second);
        var alert = Assert.Single(store.Alerts.Values);
        Assert.Equal((3, T0, T0.AddMinutes(9)), (alert.Count, alert.CreatedAt, alert.LastAt));
    }

    [Theory]
    [InlineData("builder", AlertSeverity.Critical, "disk nearly full", """{"disk":"/data","pct":91}""")]
    [InlineData("builder", AlertSeverity.Warning, "disk nearly full!", """{"disk":"/data","pct":91}""")]
    [InlineData("builder", AlertSeverity.Warning, "disk nearly full", """{"disk":"/data","pct":92}""")]
    [InlineData("reviewer", AlertSeverity.Warning, "disk nearly full", """{"disk":"/data","pct":91}""")]
    [InlineData("builder", AlertSeverity.Warning, "disk nearly full", """{"disk":"/data","pct":91.0}""")]
    public void Should_keep_alerts_apart_that_differ_in_source_severity_message_or_context(string source, AlertSeverity severity, string message, string context)
    {
        var store = Raise(AlertStore.Empty, "builder", "disk nearly full", out _, context: """{"disk":"/data","pct":91}""");
        store = Raise(store, source, message, out _, severity, context);
        Assert.Equal(2, store.Alerts.Count);
    }

    [Fact]
    public void Should_start_a_new_alert_when_the_identical_one_was_already_acknowledged()
    {
        var store = Raise(AlertStore.Empty, "system:audit", "audit chain break", out var first, AlertSeverity.Critical);
        var id = ((Sent)first).AlertId;
        var (ack, events) = store.ProcessCommand(new AcknowledgeAlert(id, AlertViewer.Operator, "cli:root"), T0.AddMinutes(1), Limits);
        Assert.Equal(new AcknowledgeResult(true, id), ack);
        store = store.ApplyAll(events);
        store = Raise(store, "system:audit", "audit chain break", out var again, AlertSeverity.Critical, at: T0.AddMinutes(2));
        Assert.NotEqual(id, ((Sent)again).AlertId);
        Assert.Equal(2, store.Alerts.Count);
    }

    [Fact]
    public void Should_let_an_agent_see_and_acknowledge_only_its_own_alerts()
    {
        var store = Raise(AlertStore.Empty, "builder", "mine", out var mine);
        store = Raise(store, "reviewer", "theirs", out var theirs);
        store = Raise(store, "system:sandbox", "sandbox unavailable", out _, AlertSeverity.Critical);

        var (list, _) = store.ProcessCommand(new ListAlerts(BuilderView), T0, Limits);
        Assert.Equal(["mine"], ((ListResult)list).Alerts.Select(a => a.Message));
        var (other, none) = store.ProcessCommand(new AcknowledgeAlert(((Sent)theirs).AlertId, BuilderView, "builder"), T0, Limits);
        Assert.Equal("AlertNotFound", Assert.IsType<AlertsRefused>(other).Error.ErrorType);
        Assert.Empty(none);
        var (operatorList, _) = store.ProcessCommand(new ListAlerts(AlertViewer.Operator), T0, Limits);
        Assert.Equal(3, ((ListResult)operatorList).Total);
        Assert.Equal(new PendingCount(1, 0), store.ProcessCommand(new CountPending(BuilderView), T0, Limits).Reply);
        Assert.Equal(new PendingCount(3, 1), store.ProcessCommand(new CountPending(AlertViewer.Operator), T0, Limits).Reply);
        var (ack, events) = store.ProcessCommand(new AcknowledgeAlert(((Sent)mine).AlertId, BuilderView, "builder"), T0, Limits);
        Assert.Equal(new AcknowledgeResult(true, ((Sent)mine).AlertId), ack);
        store = store.ApplyAll(events);
        Assert.Equal(new AcknowledgeResult(false, ((Sent)mine).AlertId), store.ProcessCommand(new AcknowledgeAlert(((Sent)mine).AlertId, BuilderView, "builder"), T0, Limits).Reply);
    }

    [Fact]
    public void Should_list_newest_first_by_latest_occurrence_filtered_by_status_with_a_limit_and_the_total()
    {
        var store = AlertStore.Empty;
        for (var i = 0; i < 60; i++) store = Raise(store, "builder", "alert " + i, out _, at: T0.AddMinutes(i));
        store = Raise(store, "builder", "alert 3", out _, at: T0.AddHours(2));
        var list = (ListResult)store.ProcessCommand(new ListAlerts(BuilderView), T0, Limits).Reply;
        Assert.Equal(50, list.Alerts.Length);
        Assert.Equal(60, list.Total);
        Assert.Equal(["alert 3", "alert 59", "alert 58"], list.Alerts.Take(3).Select(a => a.Message));
        Assert.Equal(2, list.Alerts[0].Count);
        Assert.Equal(["alerts", "total"], WireFields(list));
        Assert.Equal(["alert_id", "message", "severity", "status", "created_at", "acknowledged_at", "acknowledged_by", "count", "last_seen_at", "source"],
            WireFields(list.Alerts[0]));
        var id = list.Alerts[1].AlertId;
        store = store.ApplyAll(store.ProcessCommand(new AcknowledgeAlert(id, BuilderView, "builder"), T0.AddHours(3), Limits).Events);
        var acked = (ListResult)store.ProcessCommand(new ListAlerts(BuilderView, AlertStatusFilter.Acknowledged), T0, Limits).Reply;
        var one = Assert.Single(acked.Alerts);
        Assert.Equal((AlertStatus.Acknowledged, "builder", T0.AddHours(3)), (one.Status, one.AcknowledgedBy, one.AcknowledgedAt!.Value));
        Assert.Equal(59, ((ListResult)store.ProcessCommand(new ListAlerts(BuilderView, AlertStatusFilter.Pending, 5), T0, Limits).Reply).Total);
        Assert.IsType<AlertsRefused>(store.ProcessCommand(new ListAlerts(BuilderView, Limit: 0), T0, Limits).Reply);
        Assert.Equal("""{"alert_id":"alrt-1","delivered_to":"dashboard","severity":"critical"}""", Wire(new Sent("alrt-1", "dashboard", AlertSeverity.Critical)));
        Assert.Equal(["acknowledged", "alert_id"], WireFields(new AcknowledgeResult(true, "alrt-1")));
    }

    [Fact]
    public void Should_stop_an_agent_from_flooding_but_never_displace_other_sources_pending_alerts()
    {
        var limits = Limits with { MaxPendingPerAgent = 3, MaxAlerts = 5 };
        var store = Raise(AlertStore.Empty, "system:audit", "audit chain break", out _, AlertSeverity.Critical, limits: limits);
        IAlertReply last = null!;
        for (var i = 0; i < 10; i++) store = Raise(store, "builder", "spam " + i, out last, limits: limits);
        var refused = Assert.IsType<AlertsRefused>(last).Error;
        Assert.Equal("AlertError", refused.ErrorType);
        Assert.True(refused.Retryable);
        // repeats still count while the agent is at its cap
        store = Raise(store, "builder", "spam 0", out var repeat, limits: limits);
        Assert.IsType<Sent>(repeat);
        store = Raise(store, "reviewer", "one", out _, limits: limits);
        Raise(store, "planner", "one too many", out var full, limits: limits);
        Assert.IsType<AlertsRefused>(full);
        Assert.Contains(store.Alerts.Values, a => a.Source == "system:audit" && a.Status == AlertStatus.Pending);
    }

    [Fact]
    public void Should_make_room_for_the_gateway_from_its_own_oldest_pending_alert_and_from_old_acknowledged_ones()
    {
        var limits = Limits with { MaxPendingPerSystemSource = 2, AcknowledgedRetention = TimeSpan.FromDays(1) };
        var store = Raise(AlertStore.Empty, "system:dlq", "dead letter 1", out var oldest, at: T0, limits: limits);
        store = Raise(store, "system:dlq", "dead letter 2", out _, at: T0.AddMinutes(1), limits: limits);
        store = Raise(store, "system:dlq", "dead letter 3", out var newest, at: T0.AddMinutes(2), limits: limits);
        Assert.IsType<Sent>(newest);
        Assert.False(store.Alerts.ContainsKey(((Sent)oldest).AlertId));
        Assert.Equal(2, store.Alerts.Count);

        var mine = Raise(AlertStore.Empty, "builder", "old news", out var old);
        mine = mine.ApplyAll(mine.ProcessCommand(new AcknowledgeAlert(((Sent)old).AlertId, BuilderView, "builder"), T0, limits).Events);
        var (_, events) = mine.ProcessCommand(new RaiseAlert(AlertIds.New(), "builder", AlertSeverity.Info, "fresh", StoredJson.EmptyObject), T0.AddDays(2), limits);
        Assert.Equal([((Sent)old).AlertId], Assert.IsType<AlertRaised>(Assert.Single(events)).Evicted);
    }

    [Theory]
    [InlineData("alrt-0123456789abcdef", true)]
    [InlineData("alrt-0123456789ABCDEF", false)]
    [InlineData("alrt-0123456789abcde", false)]
    [InlineData("alrt-../../etc/passwd", false)]
    [InlineData("alrt-0123456789abcdef/..", false)]
    [InlineData("0123456789abcdef", false)]
    public void Should_accept_only_alert_ids_that_are_safe_file_names(string id, bool valid)
    {
        Assert.Equal(valid, AlertIds.IsValid(id));
        var (reply, _) = AlertStore.Empty.ProcessCommand(new AcknowledgeAlert(id, AlertViewer.Operator, "cli:root"), T0, Limits);
        Assert.Equal(valid ? "AlertNotFound" : "InvalidInput", Assert.IsType<AlertsRefused>(reply).Error.ErrorType);
    }

    [Theory]
    [InlineData("builder", "", "{}", "message")]
    [InlineData("builder", "bell\u0007", "{}", "message")]
    [InlineData("builder", "ok", "[1]", "context")]
    [InlineData("Builder", "ok", "{}", "source")]
    [InlineData("user:ops", "ok", "{}", "source")]
    [InlineData("system:", "ok", "{}", "source")]
    [InlineData("system:Audit", "ok", "{}", "source")]
    public void Should_refuse_malformed_alerts(string source, string message, string context, string field)
    {
        var (reply, events) = AlertStore.Empty.ProcessCommand(new RaiseAlert(AlertIds.New(), source, AlertSeverity.Info, message, J(context)), T0, Limits);
        Assert.Equal(field, Assert.IsType<AlertsRefused>(reply).Error.ContextString("field"));
        Assert.Empty(events);
    }

    [Fact]
    public void Should_refuse_an_acknowledger_name_that_is_not_printable_and_parse_the_wire_values()
    {
        var store = Raise(AlertStore.Empty, "builder", "x", out var sent);
        Assert.IsType<AlertsRefused>(store.ProcessCommand(new AcknowledgeAlert(((Sent)sent).AlertId, BuilderView, "a\nb"), T0, Limits).Reply);
        Assert.True(AlertStoreExtensions.TryParseSeverity(null, out var s0) && s0 == AlertSeverity.Info);
        Assert.True(AlertStoreExtensions.TryParseSeverity("critical", out var s1) && s1 == AlertSeverity.Critical);
        Assert.False(AlertStoreExtensions.TryParseSeverity("CRITICAL", out _));
        Assert.True(AlertStoreExtensions.TryParseStatusFilter("acknowledged", out var f) && f == AlertStatusFilter.Acknowledged);
        Assert.False(AlertStoreExtensions.TryParseStatusFilter("open", out _));
    }

    [Fact]
    public void Should_rebuild_from_a_snapshot_with_the_same_collapse_index()
    {
        var store = Raise(AlertStore.Empty, "builder", "x", out var sent);
        store = Raise(store, "builder", "y", out var acked);
        store = store.ApplyAll(store.ProcessCommand(new AcknowledgeAlert(((Sent)acked).AlertId, BuilderView, "builder"), T0, Limits).Events);
        var back = AlertStore.FromSnapshot(store.ToSnapshot());
        Assert.Equal(store.PendingByFingerprint, back.PendingByFingerprint);
        var (repeat, events) = back.ProcessCommand(new RaiseAlert(AlertIds.New(), "builder", AlertSeverity.Warning, "x", StoredJson.EmptyObject), T0, Limits);
        Assert.Equal(((Sent)sent).AlertId, ((Sent)repeat).AlertId);
        Assert.IsType<AlertRepeated>(Assert.Single(events));
        Assert.Throws<InvalidDataException>(() => AlertStore.FromSnapshot(new AlertStoreSnapshot([store.Alerts.Values.First() with { AlertId = "../x" }])));
    }
}
