using KruxOS.Core.Capabilities;
using KruxOS.Core.Scheduling;
using KruxOS.Core.Sessions;
using KruxOS.Core.State;
using Xunit;
using static KruxOS.Core.Scheduling.SchedulerCommands;
using static KruxOS.Core.Scheduling.SchedulerEvents;
using static KruxOS.Core.Scheduling.SchedulerReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.Scheduling;

/// <summary>Cron grammar, firing, missed runs, ownership and suspension (pure, with an explicit clock).</summary>
public sealed class SchedulerSpecs
{
    private static readonly SchedulerLimits Limits = SchedulerLimits.Default;
    private static readonly CapabilityName Time = CapabilityName.Parse("system.time");
    private static readonly DateTimeOffset Jan1 = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

    private static SchedulerState Run(SchedulerState s, ISchedulerCommand c, DateTimeOffset now, out ISchedulerReply reply, List<ISchedulerEvent>? journal = null,
        SchedulerLimits? limits = null)
    {
        var (r, events) = s.ProcessCommand(c, now, limits ?? Limits);
        reply = r;
        journal?.AddRange(events);
        return s.ApplyAll(events);
    }

    private static (SchedulerState State, string Id) Cron(string schedule, DateTimeOffset at, SchedulerState? s = null, List<ISchedulerEvent>? journal = null)
    {
        var id = JobIds.New(JobKind.Cron);
        var state = Run(s ?? SchedulerState.Empty(Builder), new CreateCron(Builder, id, Time, StoredJson.EmptyObject, schedule, "tick"), at, out var reply, journal);
        Assert.IsType<CronCreated>(reply);
        return (state, id);
    }

    private static TickResult Tick(ref SchedulerState s, DateTimeOffset now, List<ISchedulerEvent>? journal = null, SchedulerLimits? limits = null)
    {
        s = Run(s, new Tick(Builder), now, out var reply, journal, limits);
        return Assert.IsType<TickResult>(reply);
    }

    [Theory]
    [InlineData("*/5 * * * *")]
    [InlineData("0 9 * * 1-5")]
    [InlineData("0,30 8-17 * * *")]
    [InlineData("0 0 1 1 *")]
    [InlineData("0 12 * * 0")]
    [InlineData("0 0 29 2 *")]
    [InlineData("  7   7 * *   6 ")]
    public void Should_accept_five_fields_of_stars_steps_lists_and_ranges(string expression)
    {
        Assert.True(CronSchedule.TryParse(expression, out var schedule, out var reason), reason);
        Assert.DoesNotContain("  ", schedule!.Text);
    }

    [Theory]
    [InlineData("* * * *", "expected 5 fields")]
    [InlineData("0 * * * * *", "expected 5 fields")]
    [InlineData("60 * * * *", "minute")]
    [InlineData("* 24 * * *", "hour")]
    [InlineData("* * 0 * *", "day of month")]
    [InlineData("* * * 13 *", "month")]
    [InlineData("* * * * 7", "day of week")]
    [InlineData("0 0 * * MON", "day of week")]
    [InlineData("0 0 * JAN *", "month")]
    [InlineData("@hourly", "expected 5 fields")]
    [InlineData("*/0 * * * *", "step")]
    [InlineData("*/61 * * * *", "step")]
    [InlineData("5-1 * * * *", "backwards")]
    [InlineData("1-10/2 * * * *", "steps are allowed only as")]
    [InlineData("0 0 ? * *", "day of month")]
    [InlineData("0 0 L * *", "day of month")]
    [InlineData("0 0 * * 5#3", "day of week")]
    [InlineData("1,,2 * * * *", "empty list item")]
    [InlineData("-1 * * * *", "minute")]
    [InlineData("0 0 31 2 *", "never fires")]
    [InlineData("0 0 30,31 2 *", "never fires")]
    [InlineData("", "empty")]
    public void Should_refuse_anything_else_with_a_reason(string expression, string reason)
    {
        Assert.False(CronSchedule.TryParse(expression, out _, out var why));
        Assert.Contains(reason, why);
        var (reply, events) = SchedulerState.Empty(Builder).ProcessCommand(
            new CreateCron(Builder, JobIds.New(JobKind.Cron), Time, StoredJson.EmptyObject, expression, null), T0, Limits);
        var error = Assert.IsType<SchedulerRefused>(reply).Error;
        Assert.Equal("InvalidCronExpression", error.ErrorType);
        Assert.Contains(reason, error.ContextString("reason"));
        Assert.Empty(events);
    }

    [Fact]
    public void Should_fire_on_either_day_when_both_day_fields_are_restricted_and_count_sunday_as_0()
    {
        CronSchedule.TryParse("0 0 13 * 5", out var fridayOr13th, out _);
        var dates = new List<DateTimeOffset>();
        for (var t = Jan1; dates.Count < 4;)
        {
            t = fridayOr13th!.Next(t)!.Value;
            dates.Add(t);
        }
        // Fridays 2, 9 and 16 January 2026, and Tuesday the 13th
        Assert.Equal([new(2026, 1, 2, 0, 0, 0, TimeSpan.Zero), new(2026, 1, 9, 0, 0, 0, TimeSpan.Zero), new(2026, 1, 13, 0, 0, 0, TimeSpan.Zero), new(2026, 1, 16, 0, 0, 0, TimeSpan.Zero)],
            dates);
        CronSchedule.TryParse("0 0 * * 0", out var sunday, out _);
        Assert.Equal(DayOfWeek.Sunday, sunday!.Next(Jan1)!.Value.DayOfWeek);
        Assert.Equal(new DateTimeOffset(2026, 1, 4, 0, 0, 0, TimeSpan.Zero), sunday.Next(Jan1));
    }

    [Fact]
    public void Should_create_a_cron_job_with_its_next_run_and_the_spec_shape()
    {
        var id = JobIds.New(JobKind.Cron);
        var at = T0.AddMinutes(2).AddSeconds(13);
        var s = Run(SchedulerState.Empty(Builder), new CreateCron(Builder, id, Time, StoredJson.Parse("""{"timezone":"UTC"}"""), "*/5 * * * *", "clock"), at, out var reply);
        Assert.Equal(new CronCreated(id, "*/5 * * * *", T0.AddMinutes(5), "system.time"), reply);
        Assert.Equal(["cron_id", "schedule", "next_run", "capability"], WireFields(reply));
        Run(s, new ListJobs(Builder), at, out var list);
        var jobs = Assert.IsType<JobList>(list);
        Assert.Equal(1, jobs.Total);
        Assert.Equal(["jobs", "total"], WireFields(jobs));
        Assert.Equal(["cron_id", "capability", "inputs", "schedule", "next_run", "description", "enabled", "created_at"], WireFields(jobs.Jobs[0]));
        Assert.Equal("""{"timezone":"UTC"}""", jobs.Jobs[0].Inputs.Text);
    }

    [Fact]
    public void Should_fire_once_at_the_due_time_with_a_controllable_clock_and_never_again_for_it_even_after_recovery()
    {
        var journal = new List<ISchedulerEvent>();
        var (s, id) = Cron("*/5 * * * *", T0.AddMinutes(2), journal: journal);

        Assert.Empty(Tick(ref s, T0.AddMinutes(4).AddSeconds(59), journal).Runs);
        var fired = Tick(ref s, T0.AddMinutes(5), journal);
        var run = Assert.Single(fired.Runs);
        Assert.Equal((id, T0.AddMinutes(5), "schedule", Builder), (run.JobId, run.Due, run.Trigger, run.Agent));
        Assert.Equal(T0.AddMinutes(10), fired.NextWake);
        Assert.Empty(Tick(ref s, T0.AddMinutes(5), journal).Runs);
        Assert.Empty(Tick(ref s, T0.AddMinutes(7), journal).Runs);

        // the entity restarts: the journal is replayed, and the same tick fires nothing
        var recovered = SchedulerState.Empty(Builder).ApplyAll(journal);
        var afterRecovery = Tick(ref recovered, T0.AddMinutes(5).AddSeconds(30));
        Assert.Empty(afterRecovery.Runs);
        Assert.Equal(T0.AddMinutes(5), recovered.Jobs[id].LastFiredDue);
    }

    [Fact]
    public void Should_make_the_run_id_the_idempotency_key_of_the_due_time()
    {
        var key = JobIds.RunId("cron-0123456789abcdef", T0.AddMinutes(5));
        Assert.Equal("sch-cron-0123456789abcdef-20260325T140500Z", key);
        Assert.Null(IdempotencyKeys.Validate(key));
        Assert.Equal(key, JobIds.RunId("cron-0123456789abcdef", T0.AddMinutes(5).ToOffset(TimeSpan.FromHours(2))));
    }

    [Fact]
    public void Should_run_only_the_latest_missed_due_time_within_the_grace_window_and_record_the_rest_as_skipped()
    {
        var (s, id) = Cron("*/5 * * * *", T0);
        // the gateway was down from before 14:05 until 15:02
        var tick = Tick(ref s, T0.AddHours(1).AddMinutes(2));
        var run = Assert.Single(tick.Runs);
        Assert.Equal(T0.AddHours(1), run.Due);
        var skipped = Assert.Single(tick.Skipped);
        Assert.Equal((T0.AddMinutes(5), T0.AddHours(1), SchedulerStateExtensions.MissedReason), (skipped.From, skipped.Before, skipped.Reason));
        Assert.Equal(T0.AddHours(1).AddMinutes(5), s.Jobs[id].NextDue);
    }

    [Fact]
    public void Should_skip_every_missed_due_time_older_than_the_grace_window_and_resume_at_the_next_one()
    {
        var (s, id) = Cron("0 3 * * *", new DateTimeOffset(2026, 3, 24, 12, 0, 0, TimeSpan.Zero));
        var tick = Tick(ref s, new DateTimeOffset(2026, 3, 25, 5, 0, 0, TimeSpan.Zero));
        Assert.Empty(tick.Runs);
        var skipped = Assert.Single(tick.Skipped);
        Assert.Equal(new DateTimeOffset(2026, 3, 25, 3, 0, 0, TimeSpan.Zero), skipped.From);
        Assert.Equal(new DateTimeOffset(2026, 3, 26, 3, 0, 0, TimeSpan.Zero), s.Jobs[id].NextDue);
        Assert.Equal(new DateTimeOffset(2026, 3, 26, 3, 0, 0, TimeSpan.Zero), tick.NextWake);
        // a grace window of zero means nothing late ever runs
        var (z, _) = Cron("*/5 * * * *", T0);
        Assert.Empty(Tick(ref z, T0.AddMinutes(5).AddSeconds(1), limits: Limits with { MissedRunGrace = TimeSpan.Zero }).Runs);
    }

    [Fact]
    public void Should_not_start_a_run_while_the_previous_one_is_in_flight_and_resume_when_it_finishes()
    {
        var (s, id) = Cron("* * * * *", T0);
        var first = Assert.Single(Tick(ref s, T0.AddMinutes(1)).Runs);
        var overlap = Tick(ref s, T0.AddMinutes(2));
        Assert.Empty(overlap.Runs);
        Assert.Equal(SchedulerStateExtensions.OverlapReason, Assert.Single(overlap.Skipped).Reason);
        s = Run(s, new FinishRun(Builder, id, first.RunId, true), T0.AddMinutes(2).AddSeconds(5), out var ack);
        Assert.Equal(new Ack(true), ack);
        Run(s, new FinishRun(Builder, id, first.RunId, true), T0.AddMinutes(2).AddSeconds(6), out var stale);
        Assert.Equal(new Ack(false), stale);
        Assert.Equal(T0.AddMinutes(3), Assert.Single(Tick(ref s, T0.AddMinutes(3)).Runs).Due);
    }

    [Fact]
    public void Should_give_up_on_a_run_that_reports_nothing_within_the_longest_run_duration()
    {
        var limits = Limits with { MaxRunDuration = TimeSpan.FromMinutes(10) };
        var (s, id) = Cron("*/5 * * * *", T0);
        var first = Assert.Single(Tick(ref s, T0.AddMinutes(5), limits: limits).Runs);
        Assert.Equal(T0.AddMinutes(10), s.NextWake(limits));
        Assert.Empty(Tick(ref s, T0.AddMinutes(10), limits: limits).Runs);
        var journal = new List<ISchedulerEvent>();
        var late = Tick(ref s, T0.AddMinutes(15), journal, limits);
        Assert.Contains(journal, e => e is RunInterrupted r && r.RunId == first.RunId);
        Assert.Equal(T0.AddMinutes(15), Assert.Single(late.Runs).Due);
    }

    [Fact]
    public void Should_fire_a_delay_once_and_remove_it_when_its_run_finishes()
    {
        var id = JobIds.New(JobKind.Delay);
        var s = Run(SchedulerState.Empty(Builder), new CreateDelay(Builder, id, Time, StoredJson.EmptyObject, 90, null), T0, out var created);
        Assert.Equal(new DelayCreated(id, T0.AddSeconds(90), "system.time"), created);
        Assert.Equal(["delay_id", "run_at", "capability"], WireFields(created));
        Assert.Empty(Tick(ref s, T0.AddSeconds(89)).Runs);
        var run = Assert.Single(Tick(ref s, T0.AddSeconds(90)).Runs);
        Assert.Equal("delay", run.Trigger);
        Assert.Empty(Tick(ref s, T0.AddSeconds(91)).Runs);
        Run(s, new ListJobs(Builder), T0, out var list);
        Assert.Equal(0, ((JobList)list).Total);
        Run(s, new DeleteJob(Builder, id), T0, out var deleted);
        Assert.Equal(new DeleteResult(false, id), deleted);
        s = Run(s, new FinishRun(Builder, id, run.RunId, false), T0.AddSeconds(95), out _);
        Assert.Empty(s.Jobs);
    }

    [Fact]
    public void Should_drop_a_delay_missed_by_more_than_the_grace_window()
    {
        var id = JobIds.New(JobKind.Delay);
        var s = Run(SchedulerState.Empty(Builder), new CreateDelay(Builder, id, Time, StoredJson.EmptyObject, 60, null), T0, out _);
        var tick = Tick(ref s, T0.AddMinutes(30));
        Assert.Empty(tick.Runs);
        Assert.Equal(SchedulerStateExtensions.MissedReason, Assert.Single(tick.Skipped).Reason);
        Assert.Empty(s.Jobs);
    }

    [Fact]
    public void Should_manage_only_the_agents_own_jobs()
    {
        var (s, id) = Cron("0 * * * *", T0);
        var (other, _) = s.ProcessCommand(new DeleteJob(Reviewer, id), T0, Limits);
        Assert.IsType<SchedulerRefused>(other);
        var (list, _) = s.ProcessCommand(new ListJobs(Reviewer), T0, Limits);
        Assert.IsType<SchedulerRefused>(list);
        var reviewers = SchedulerState.Empty(Reviewer);
        var (notTheirs, none) = reviewers.ProcessCommand(new DeleteJob(Reviewer, id), T0, Limits);
        Assert.Equal(new DeleteResult(false, id), notTheirs);
        Assert.Empty(none);
        Assert.Equal("InvalidInput", Assert.IsType<SchedulerRefused>(s.ProcessCommand(new DeleteJob(Builder, "../../cron"), T0, Limits).Reply).Error.ErrorType);
        s = Run(s, new DeleteJob(Builder, id), T0, out var deleted);
        Assert.Equal(["deleted", "cron_id"], WireFields(deleted));
        Assert.Empty(s.Jobs);
    }

    [Fact]
    public void Should_run_nothing_while_paused_or_revoked_and_resume_at_the_next_due_time_without_catching_up()
    {
        var (s, id) = Cron("*/5 * * * *", T0);
        s = Run(s, new Suspend(Builder, SuspendReason.Paused), T0.AddMinutes(1), out _);
        Assert.Null(s.NextWake(Limits));
        Assert.Empty(Tick(ref s, T0.AddMinutes(20)).Runs);
        Run(s, new ListJobs(Builder), T0, out var list);
        Assert.False(((JobList)list).Jobs[0].Enabled);

        s = Run(s, new Suspend(Builder, SuspendReason.Revoked), T0.AddMinutes(21), out _);
        s = Run(s, new Resume(Builder, SuspendReason.Paused), T0.AddMinutes(22), out _);
        Assert.False(s.Enabled);
        Assert.Empty(Tick(ref s, T0.AddMinutes(25)).Runs);

        s = Run(s, new Resume(Builder, SuspendReason.Revoked), T0.AddMinutes(32), out var resumed);
        Assert.Equal(new Ack(true), resumed);
        Assert.Equal(T0.AddMinutes(35), s.Jobs[id].NextDue);
        var tick = Tick(ref s, T0.AddMinutes(35));
        Assert.Equal(T0.AddMinutes(35), Assert.Single(tick.Runs).Due);
        Assert.Empty(tick.Skipped);
        Run(s, new Resume(Builder, SuspendReason.Paused), T0, out var noop);
        Assert.Equal(new Ack(false), noop);
    }

    [Fact]
    public void Should_refuse_jobs_that_schedule_the_scheduler_take_non_object_or_oversized_inputs_or_exceed_the_job_limit()
    {
        SchedulerRefused Refused(ISchedulerCommand c, SchedulerState? s = null, SchedulerLimits? l = null) =>
            Assert.IsType<SchedulerRefused>((s ?? SchedulerState.Empty(Builder)).ProcessCommand(c, T0, l ?? Limits).Reply);
        Assert.Contains("jobs may not create jobs",
            Refused(new CreateCron(Builder, JobIds.New(JobKind.Cron), CapabilityName.Parse("scheduler.delay"), StoredJson.EmptyObject, "* * * * *", null)).Error.ContextString("reason"));
        Assert.Equal("inputs", Refused(new CreateCron(Builder, JobIds.New(JobKind.Cron), Time, StoredJson.Parse("[1]"), "* * * * *", null)).Error.ContextString("field"));
        Assert.Equal("inputs", Refused(new CreateCron(Builder, JobIds.New(JobKind.Cron), Time, StoredJson.Parse("""{"a":"xxxxxxxxxx"}"""), "* * * * *", null),
            l: Limits with { MaxInputsBytes = 10 }).Error.ContextString("field"));
        Assert.Equal("delay_seconds", Refused(new CreateDelay(Builder, JobIds.New(JobKind.Delay), Time, StoredJson.EmptyObject, 0, null)).Error.ContextString("field"));
        Assert.Equal("delay_seconds", Refused(new CreateDelay(Builder, JobIds.New(JobKind.Delay), Time, StoredJson.EmptyObject, 31L * 86400, null)).Error.ContextString("field"));
        Assert.Equal("job_id", Refused(new CreateDelay(Builder, JobIds.New(JobKind.Cron), Time, StoredJson.EmptyObject, 5, null)).Error.ContextString("field"));
        Assert.Equal("description", Refused(new CreateCron(Builder, JobIds.New(JobKind.Cron), Time, StoredJson.EmptyObject, "* * * * *", "a\u001bb")).Error.ContextString("field"));
        var (full, _) = Cron("* * * * *", T0);
        Assert.Equal("SchedulerError", Refused(new CreateCron(Builder, JobIds.New(JobKind.Cron), Time, StoredJson.EmptyObject, "* * * * *", null), full, Limits with { MaxJobs = 1 }).Error.ErrorType);
    }

    [Fact]
    public void Should_rebuild_from_a_snapshot_and_refuse_a_damaged_one()
    {
        var (s, id) = Cron("*/5 * * * *", T0);
        Tick(ref s, T0.AddMinutes(5));
        s = Run(s, new Suspend(Builder, SuspendReason.Paused), T0.AddMinutes(6), out _);
        var back = SchedulerState.FromSnapshot(s.ToSnapshot());
        Assert.Equal(Wire(s.ToSnapshot()), Wire(back.ToSnapshot()));
        Assert.True(back.Paused);
        var damaged = s.ToSnapshot() with { Jobs = [s.Jobs[id] with { Schedule = "* * * * 7" }] };
        Assert.Throws<InvalidDataException>(() => SchedulerState.FromSnapshot(damaged));
        var wrongKind = s.ToSnapshot() with { Jobs = [s.Jobs[id] with { Kind = JobKind.Delay }] };
        Assert.Throws<InvalidDataException>(() => SchedulerState.FromSnapshot(wrongKind));
    }

    /// <summary>
    /// Adversarial: a clock that stalls, jumps ahead by hours, ticks many times at one instant, and an entity
    /// that restarts from its journal at random. Every occurrence of the schedule is accounted for exactly
    /// once — fired or recorded as skipped — and no due time is ever fired twice.
    /// </summary>
    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    [InlineData(14)]
    public void Should_fire_each_due_time_at_most_once_and_account_for_every_occurrence_under_an_erratic_clock_and_restarts(int seed)
    {
        var rng = new Random(seed);
        var journal = new List<ISchedulerEvent>();
        var (s, id) = Cron("*/7 * * * *", T0, journal: journal);
        CronSchedule.TryParse("*/7 * * * *", out var schedule, out _);
        var now = T0;
        for (var i = 0; i < 600; i++)
        {
            now += rng.Next(4) switch
            {
                0 => TimeSpan.Zero,
                1 => TimeSpan.FromSeconds(rng.Next(1, 120)),
                2 => TimeSpan.FromMinutes(rng.Next(1, 30)),
                _ => TimeSpan.FromHours(rng.Next(1, 3)),
            };
            if (rng.Next(10) == 0) s = SchedulerState.Empty(Builder).ApplyAll(journal); // restart: replay
            var tick = Tick(ref s, now, journal);
            foreach (var run in tick.Runs)
                if (rng.Next(3) > 0) s = Run(s, new FinishRun(Builder, id, run.RunId, true), now, out _, journal);
        }

        var fired = journal.OfType<JobFired>().Select(f => f.Due).ToList();
        Assert.Equal(fired.Count, fired.Distinct().Count());
        Assert.True(fired.SequenceEqual(fired.Order()), "due times fire in order");
        var skipped = journal.OfType<JobSkipped>().ToList();
        var end = s.Jobs[id].NextDue!.Value;
        for (var due = schedule!.Next(T0)!.Value; due < end; due = schedule.Next(due)!.Value)
        {
            var d = due;
            var accounted = (fired.Contains(d) ? 1 : 0) + skipped.Count(k => k.From <= d && d < k.Before);
            Assert.True(accounted == 1, $"due time {d:O} was accounted for {accounted} times");
            Assert.True(fired.Contains(d) || skipped.Any(k => k.From <= d && d < k.Before));
        }
        Assert.All(fired, d => Assert.Equal(d, schedule.NextOrSame(d)));
    }
}
