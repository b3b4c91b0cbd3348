using System.Collections.Immutable;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using KruxOS.Core.State;
using static KruxOS.Core.Scheduling.SchedulerCommands;
using static KruxOS.Core.Scheduling.SchedulerEvents;
using static KruxOS.Core.Scheduling.SchedulerReplies;

namespace KruxOS.Core.Scheduling;

/// <summary>The snapshot of an agent's scheduler.</summary>
[WireName("scheduler.snapshot.v1")]
public sealed record SchedulerSnapshot(AgentName Owner, ImmutableArray<ScheduledJob> Jobs, bool Paused, bool Revoked) : IKruxMessage;

/// <summary>
/// One agent's scheduled jobs (entity <c>scheduler-{agent}</c>). Every job belongs to the agent whose entity
/// holds it, so an agent sees and manages only its own jobs by construction. Changed only through
/// <see cref="SchedulerStateExtensions.ProcessCommand"/> / <see cref="SchedulerStateExtensions.Apply"/>;
/// firing semantics and missed runs: ADR 0036.
/// </summary>
public sealed class SchedulerState
{
    internal SchedulerState(AgentName owner, ImmutableSortedDictionary<string, ScheduledJob> jobs, bool paused, bool revoked)
    {
        Owner = owner;
        Jobs = jobs;
        Paused = paused;
        Revoked = revoked;
    }

    /// <summary>The agent.</summary>
    public AgentName Owner { get; }

    /// <summary>Jobs by id.</summary>
    public ImmutableSortedDictionary<string, ScheduledJob> Jobs { get; }

    /// <summary>Paused by the operator.</summary>
    public bool Paused { get; }

    /// <summary>The agent is revoked.</summary>
    public bool Revoked { get; }

    /// <summary>Whether jobs run.</summary>
    public bool Enabled => !Paused && !Revoked;

    /// <summary>When the timer must next wake the entity: the earliest due time, or the earliest in-flight run's deadline; null when nothing will happen.</summary>
    public DateTimeOffset? NextWake(SchedulerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(limits);
        if (!Enabled) return null;
        DateTimeOffset? wake = null;
        foreach (var j in Jobs.Values)
        {
            if (j.NextDue is { } due && (wake is null || due < wake)) wake = due;
            if (j.InFlightSince is { } since && (wake is null || since + limits.MaxRunDuration < wake)) wake = since + limits.MaxRunDuration;
        }
        return wake;
    }

    /// <summary>An agent with no jobs.</summary>
    public static SchedulerState Empty(AgentName owner) =>
        new(owner, ImmutableSortedDictionary.Create<string, ScheduledJob>(StringComparer.Ordinal), false, false);

    /// <summary>The snapshot to store.</summary>
    public SchedulerSnapshot ToSnapshot() => new(Owner, [.. Jobs.Values], Paused, Revoked);

    /// <summary>Loads a snapshot; throws <see cref="InvalidDataException"/> when it is damaged.</summary>
    public static SchedulerState FromSnapshot(SchedulerSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var jobs = ImmutableSortedDictionary.CreateBuilder<string, ScheduledJob>(StringComparer.Ordinal);
        foreach (var j in snapshot.Jobs.IsDefault ? [] : snapshot.Jobs)
        {
            var kindOk = JobIds.TryParse(j.JobId, out var kind) && kind == j.Kind;
            var scheduleOk = j.Kind == JobKind.Delay ? j.Schedule is null : CronSchedule.TryParse(j.Schedule, out _, out _);
            if (!kindOk || !scheduleOk || !jobs.TryAdd(j.JobId, j))
                throw new InvalidDataException($"the scheduler snapshot of '{snapshot.Owner}' holds an invalid job");
        }
        return new SchedulerState(snapshot.Owner, jobs.ToImmutable(), snapshot.Paused, snapshot.Revoked);
    }
}

/// <summary>The pure functions of a scheduler.</summary>
public static class SchedulerStateExtensions
{
    /// <summary>The reason recorded for due times missed while the gateway (or the entity) was not running.</summary>
    public const string MissedReason = "missed: the gateway was not running at the due time";

    /// <summary>The reason recorded for due times that came while the previous run had not finished.</summary>
    public const string OverlapReason = "the previous run had not finished";

    /// <summary>Decides a command: the reply and the events to persist.</summary>
    public static (ISchedulerReply Reply, ImmutableArray<ISchedulerEvent> Events) ProcessCommand(this SchedulerState state, ISchedulerCommand command,
        DateTimeOffset now, SchedulerLimits limits)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(limits);
        if (command.Agent != state.Owner) return Refuse(Errors.Errors.InvalidInput("agent", "the command is for another agent's scheduler"));
        switch (command)
        {
            case CreateCron c:
            {
                if (CheckNew(state, c.JobId, JobKind.Cron, c.Capability, c.Inputs, c.Description, limits) is { } bad) return Refuse(bad);
                if (!CronSchedule.TryParse(c.Schedule, out var schedule, out var reason))
                    return Refuse(SchedulerErrors.InvalidCronExpression(c.Schedule ?? string.Empty, reason));
                var next = schedule!.Next(now);
                var job = new ScheduledJob(c.JobId, JobKind.Cron, c.Capability, c.Inputs, schedule.Text, c.Description ?? string.Empty, now, next, null, null, null);
                return (new CronCreated(c.JobId, schedule.Text, next, c.Capability.Value), [new JobCreated(job, now)]);
            }
            case CreateDelay c:
            {
                if (CheckNew(state, c.JobId, JobKind.Delay, c.Capability, c.Inputs, c.Description, limits) is { } bad) return Refuse(bad);
                if (c.DelaySeconds < 1 || c.DelaySeconds > (long)limits.MaxDelay.TotalSeconds)
                    return Refuse(Errors.Errors.InvalidInput("delay_seconds", $"must be between 1 and {(long)limits.MaxDelay.TotalSeconds}"));
                var runAt = now.AddSeconds(c.DelaySeconds);
                var job = new ScheduledJob(c.JobId, JobKind.Delay, c.Capability, c.Inputs, null, c.Description ?? string.Empty, now, runAt, null, null, null);
                return (new DelayCreated(c.JobId, runAt, c.Capability.Value), [new JobCreated(job, now)]);
            }
            case DeleteJob c:
                if (!JobIds.TryParse(c.JobId, out _)) return Refuse(Errors.Errors.InvalidInput("cron_id", "is not a job id"));
                return state.Jobs.TryGetValue(c.JobId, out var existing) && IsListed(existing)
                    ? (new DeleteResult(true, c.JobId), [new JobDeleted(c.JobId, now)])
                    : (new DeleteResult(false, c.JobId), []);
            case ListJobs:
            {
                var jobs = state.Jobs.Values.Where(IsListed).OrderBy(j => j.CreatedAt).ThenBy(j => j.JobId, StringComparer.Ordinal)
                    .Select(j => new JobEntry(j.JobId, j.Capability.Value, j.Inputs, j.Schedule, j.NextDue, j.Description, state.Enabled, j.CreatedAt))
                    .ToImmutableArray();
                return (new JobList(jobs, jobs.Length), []);
            }
            case Tick:
                return Fire(state, now, limits);
            case FinishRun c:
                return state.Jobs.TryGetValue(c.JobId, out var running) && running.RunInFlight == c.RunId
                    ? (new Ack(true), [new RunFinished(c.JobId, c.RunId, c.Succeeded, now)])
                    : (new Ack(false), []);
            case Suspend c:
                if (IsSet(state, c.Reason)) return (new Ack(false), []);
                return (new Ack(true), [new SchedulerSuspended(c.Reason, now)]);
            case Resume c:
            {
                if (!IsSet(state, c.Reason)) return (new Ack(false), []);
                var stillSuspended = c.Reason == SuspendReason.Paused ? state.Revoked : state.Paused;
                if (stillSuspended) return (new Ack(true), [new SchedulerResumed(c.Reason, [], [], now)]);
                var dues = ImmutableArray.CreateBuilder<JobDue>();
                var expired = ImmutableArray.CreateBuilder<string>();
                foreach (var j in state.Jobs.Values)
                {
                    if (j.NextDue is not { } due) continue;
                    if (j.Kind == JobKind.Delay)
                    {
                        // A delay keeps its one due time; if that passed longer ago than the grace window, it is dropped as missed.
                        if (due < now - limits.MissedRunGrace) expired.Add(j.JobId);
                        continue;
                    }
                    // Cron jobs resume at their next due time (spec §12.3): nothing missed while suspended is run.
                    if (due < now && CronSchedule.TryParse(j.Schedule, out var schedule, out _))
                        dues.Add(new JobDue(j.JobId, schedule!.NextOrSame(now)));
                }
                return (new Ack(true), [new SchedulerResumed(c.Reason, dues.ToImmutable(), expired.ToImmutable(), now)]);
            }
            default:
                return Refuse(Errors.Errors.InvalidInput("command", $"unknown command {command.GetType().Name}"));
        }
    }

    /// <summary>Applies a persisted event. Never reads the clock or the configuration, and never computes a schedule.</summary>
    public static SchedulerState Apply(this SchedulerState state, ISchedulerEvent evt)
    {
        ArgumentNullException.ThrowIfNull(evt);
        switch (evt)
        {
            case JobCreated e:
                return With(state, state.Jobs.SetItem(e.Job.JobId, e.Job));
            case JobDeleted e:
                return With(state, state.Jobs.Remove(e.JobId));
            case JobFired e:
                return Update(state, e.JobId, j => j with { NextDue = e.NextDue, LastFiredDue = e.Due, RunInFlight = e.RunId, InFlightSince = e.At });
            case JobSkipped e:
                return e.Removed ? With(state, state.Jobs.Remove(e.JobId)) : Update(state, e.JobId, j => j with { NextDue = e.NextDue });
            case RunFinished e:
                return Ended(state, e.JobId, e.RunId);
            case RunInterrupted e:
                return Ended(state, e.JobId, e.RunId);
            case SchedulerSuspended e:
                return new SchedulerState(state.Owner, state.Jobs, state.Paused || e.Reason == SuspendReason.Paused, state.Revoked || e.Reason == SuspendReason.Revoked);
            case SchedulerResumed e:
            {
                var jobs = state.Jobs;
                foreach (var d in e.NextDues.IsDefault ? [] : e.NextDues)
                    if (jobs.TryGetValue(d.JobId, out var j)) jobs = jobs.SetItem(d.JobId, j with { NextDue = d.NextDue });
                foreach (var id in e.Expired.IsDefault ? [] : e.Expired) jobs = jobs.Remove(id);
                return new SchedulerState(state.Owner, jobs, state.Paused && e.Reason != SuspendReason.Paused, state.Revoked && e.Reason != SuspendReason.Revoked);
            }
            default:
                return state;
        }
    }

    /// <summary>Applies events in order.</summary>
    public static SchedulerState ApplyAll(this SchedulerState state, IEnumerable<ISchedulerEvent> events) => events.Aggregate(state, (s, e) => s.Apply(e));

    /// <summary>
    /// The firing rule (ADR 0036). For each job due at or before <paramref name="now"/>, with G the grace window:
    /// <list type="bullet">
    /// <item>cron: the latest due time L with <c>max(NextDue, now − G) ≤ L ≤ now</c> fires once — unless the previous
    /// run is still in flight, then it is skipped; every earlier due time since <c>NextDue</c> is skipped and
    /// recorded; the next due time is the first occurrence after L (after now if nothing fired);</item>
    /// <item>delay: fires if its due time is within G of now, else it is dropped as missed;</item>
    /// <item>a run in flight longer than the longest run duration is recorded as interrupted first.</item>
    /// </list>
    /// A due time fires only if it is after the job's <c>LastFiredDue</c>, so it can never fire twice.
    /// </summary>
    private static (ISchedulerReply, ImmutableArray<ISchedulerEvent>) Fire(SchedulerState state, DateTimeOffset now, SchedulerLimits limits)
    {
        if (!state.Enabled) return (new TickResult([], [], null), []);
        var events = ImmutableArray.CreateBuilder<ISchedulerEvent>();
        var runs = ImmutableArray.CreateBuilder<ScheduledRun>();
        var skipped = ImmutableArray.CreateBuilder<SkippedRuns>();
        var windowStart = now - limits.MissedRunGrace;
        foreach (var original in state.Jobs.Values)
        {
            var job = original;
            if (job.RunInFlight is { } stale && job.InFlightSince is { } since && since + limits.MaxRunDuration <= now)
            {
                events.Add(new RunInterrupted(job.JobId, stale, now));
                job = job with { RunInFlight = null, InFlightSince = null };
                if (job.Kind == JobKind.Delay) continue;
            }
            if (job.NextDue is not { } due || due > now) continue;

            if (job.Kind == JobKind.Delay)
            {
                if (due >= windowStart && (job.LastFiredDue is null || due > job.LastFiredDue))
                {
                    var run = Run(state.Owner, job, due, "delay");
                    events.Add(new JobFired(job.JobId, run.RunId, due, null, now));
                    runs.Add(run);
                }
                else
                {
                    events.Add(new JobSkipped(job.JobId, due, due.AddTicks(1), MissedReason, null, true, now));
                    skipped.Add(new SkippedRuns(job.JobId, due, due.AddTicks(1), MissedReason));
                }
                continue;
            }

            if (!CronSchedule.TryParse(job.Schedule, out var schedule, out _)) continue;
            // The latest due time within the window: walk forward from the first one in it (bounded by the window's length).
            var first = due >= windowStart ? due : schedule!.NextOrSame(windowStart);
            DateTimeOffset? latest = null;
            for (var d = first; d is { } x && x <= now; d = schedule!.Next(x)) latest = x;
            if (job.LastFiredDue is { } fired && latest is { } l && l <= fired) latest = null;

            if (latest is not { } fire)
            {
                var resumeAt = schedule!.Next(now);
                var before = resumeAt ?? now;
                events.Add(new JobSkipped(job.JobId, due, before, MissedReason, resumeAt, false, now));
                skipped.Add(new SkippedRuns(job.JobId, due, before, MissedReason));
                continue;
            }
            var next = schedule!.Next(fire);
            if (due < fire)
            {
                events.Add(new JobSkipped(job.JobId, due, fire, MissedReason, fire, false, now));
                skipped.Add(new SkippedRuns(job.JobId, due, fire, MissedReason));
            }
            if (job.RunInFlight is not null)
            {
                events.Add(new JobSkipped(job.JobId, fire, fire.AddTicks(1), OverlapReason, next, false, now));
                skipped.Add(new SkippedRuns(job.JobId, fire, fire.AddTicks(1), OverlapReason));
                continue;
            }
            var scheduled = Run(state.Owner, job, fire, "schedule");
            events.Add(new JobFired(job.JobId, scheduled.RunId, fire, next, now));
            runs.Add(scheduled);
        }
        var after = state.ApplyAll(events);
        return (new TickResult(runs.ToImmutable(), skipped.ToImmutable(), after.NextWake(limits)), events.ToImmutable());
    }

    private static ScheduledRun Run(AgentName owner, ScheduledJob job, DateTimeOffset due, string trigger) =>
        new(job.JobId, JobIds.RunId(job.JobId, due), owner, job.Capability, job.Inputs, due, trigger);

    private static StructuredError? CheckNew(SchedulerState state, string jobId, JobKind kind, Capabilities.CapabilityName capability, StoredJson inputs,
        string? description, SchedulerLimits limits)
    {
        if (!JobIds.TryParse(jobId, out var parsed) || parsed != kind) return Errors.Errors.InvalidInput("job_id", "is not a job id of this kind");
        if (state.Jobs.ContainsKey(jobId)) return SchedulerErrors.SchedulerError("the job id is already in use", "retry", "Send the request again.");
        if (capability.Value is null) return Errors.Errors.InvalidInput("capability", "is required");
        if (capability.Category == "scheduler")
            return Errors.Errors.InvalidInput("capability", "a job cannot call the scheduler (jobs may not create jobs)");
        if (inputs.Kind != System.Text.Json.JsonValueKind.Object) return Errors.Errors.InvalidInput("inputs", "must be an object");
        if (inputs.ByteCount > limits.MaxInputsBytes) return Errors.Errors.InvalidInput("inputs", $"must be at most {limits.MaxInputsBytes} bytes as canonical JSON");
        if (description is not null && (description.Length > limits.MaxDescriptionLength || !StoredJson.IsValidUnicode(description)
                                        || description.Any(ch => char.IsControl(ch) && ch is not ('\n' or '\t'))))
            return Errors.Errors.InvalidInput("description", $"must be at most {limits.MaxDescriptionLength} characters of printable text");
        if (state.Jobs.Values.Count(IsListed) >= limits.MaxJobs)
            return SchedulerErrors.SchedulerError($"this agent already has {limits.MaxJobs} jobs", "delete_jobs", "Delete jobs you no longer need (scheduler.cron_delete).");
        return null;
    }

    // A delay that fired is waiting only for its outcome: it is no longer the agent's to list or delete.
    private static bool IsListed(ScheduledJob job) => job.Kind == JobKind.Cron || job.NextDue is not null;

    private static bool IsSet(SchedulerState state, SuspendReason reason) => reason == SuspendReason.Paused ? state.Paused : state.Revoked;

    private static SchedulerState With(SchedulerState state, ImmutableSortedDictionary<string, ScheduledJob> jobs) =>
        new(state.Owner, jobs, state.Paused, state.Revoked);

    private static SchedulerState Update(SchedulerState state, string jobId, Func<ScheduledJob, ScheduledJob> change) =>
        state.Jobs.TryGetValue(jobId, out var j) ? With(state, state.Jobs.SetItem(jobId, change(j))) : state;

    private static SchedulerState Ended(SchedulerState state, string jobId, string runId)
    {
        if (!state.Jobs.TryGetValue(jobId, out var j) || j.RunInFlight != runId) return state;
        return j.Kind == JobKind.Delay
            ? With(state, state.Jobs.Remove(jobId))
            : With(state, state.Jobs.SetItem(jobId, j with { RunInFlight = null, InFlightSince = null }));
    }

    private static (ISchedulerReply, ImmutableArray<ISchedulerEvent>) Refuse(StructuredError error) => (new SchedulerRefused(error), []);
}
