using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;
using KruxOS.Core.State;

namespace KruxOS.Core.Scheduling;

/// <summary>A recurring (<c>scheduler.cron_create</c>) or one-shot (<c>scheduler.delay</c>) job.</summary>
public enum JobKind
{
    /// <summary>Fires at every occurrence of its cron schedule.</summary>
    Cron,
    /// <summary>Fires once, then is removed.</summary>
    Delay,
}

/// <summary>Why an agent's jobs do not run.</summary>
public enum SuspendReason
{
    /// <summary><c>kruxos pause</c>: resumes at the next due time on <c>kruxos resume</c>.</summary>
    Paused,
    /// <summary>The agent was revoked: nothing runs as it.</summary>
    Revoked,
}

/// <summary>Job ids: <c>cron-</c> or <c>dly-</c> + 16 lower-case hex characters from the CSPRNG.</summary>
public static class JobIds
{
    /// <summary>Prefix of cron job ids.</summary>
    public const string CronPrefix = "cron-";

    /// <summary>Prefix of delayed job ids.</summary>
    public const string DelayPrefix = "dly-";

    /// <summary>A new random id of a job of <paramref name="kind"/> (reads the CSPRNG: call it when deciding).</summary>
    public static string New(JobKind kind) =>
        (kind == JobKind.Cron ? CronPrefix : DelayPrefix) + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>Parses an id: the prefix and exactly 16 lower-case hex characters.</summary>
    public static bool TryParse(string? text, out JobKind kind)
    {
        kind = JobKind.Cron;
        if (text is null) return false;
        string rest;
        if (text.StartsWith(CronPrefix, StringComparison.Ordinal)) rest = text[CronPrefix.Length..];
        else if (text.StartsWith(DelayPrefix, StringComparison.Ordinal)) { kind = JobKind.Delay; rest = text[DelayPrefix.Length..]; }
        else return false;
        return rest.Length == 16 && rest.All(c => c is (>= '0' and <= '9') or (>= 'a' and <= 'f'));
    }

    /// <summary>
    /// The id of the run of <paramref name="jobId"/> for <paramref name="due"/>, also its idempotency key in the
    /// pipeline (ADR 0010): <c>sch-&lt;job id&gt;-&lt;yyyyMMddTHHmmssZ&gt;</c>. The same due time always gives the same
    /// key, so a run submitted twice for one due time (a retry, a resubmission after a restart) runs once.
    /// </summary>
    public static string RunId(string jobId, DateTimeOffset due) =>
        "sch-" + jobId + "-" + due.UtcDateTime.ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
}

/// <summary>Limits of an agent's scheduler.</summary>
/// <param name="MaxJobs">Jobs (cron and pending delays) per agent. Default 100.</param>
/// <param name="MaxInputsBytes">Largest <c>inputs</c> object (canonical JSON). Default 64 KiB.</param>
/// <param name="MaxDelay">Longest <c>delay</c>. Default 30 days.</param>
/// <param name="MissedRunGrace">
/// How late a due time may still run (ADR 0036): a cron job whose latest missed due time is within this
/// window of now runs once for it; older missed ones are skipped and recorded. Default 15 minutes.
/// </param>
/// <param name="MaxRunDuration">
/// After this long without an outcome a run counts as interrupted and the job may fire again (a run held
/// for approval can last the approval hold). Default 25 hours (24 h hold + 1 h process limit).
/// </param>
/// <param name="MaxDescriptionLength">Longest description. Default 500 characters.</param>
public sealed record SchedulerLimits(int MaxJobs, int MaxInputsBytes, TimeSpan MaxDelay, TimeSpan MissedRunGrace, TimeSpan MaxRunDuration, int MaxDescriptionLength)
{
    /// <summary>100 jobs, 64 KiB inputs, 30-day delays, 15-minute grace, 25-hour runs, 500-character descriptions.</summary>
    public static readonly SchedulerLimits Default = new(100, 64 * 1024, TimeSpan.FromDays(30), TimeSpan.FromMinutes(15), TimeSpan.FromHours(25), 500);
}

/// <summary>
/// A job. <see cref="NextDue"/> is the next due time that has neither fired nor been skipped (null for a
/// delay that fired); <see cref="LastFiredDue"/> is the latest due time that fired — no due time at or
/// before it ever fires again. <see cref="RunInFlight"/> is the run id of a fired run whose outcome is not
/// recorded yet; a job never overlaps itself.
/// </summary>
public sealed record ScheduledJob(
    string JobId,
    JobKind Kind,
    CapabilityName Capability,
    StoredJson Inputs,
    string? Schedule,
    string Description,
    DateTimeOffset CreatedAt,
    DateTimeOffset? NextDue,
    DateTimeOffset? LastFiredDue,
    string? RunInFlight,
    DateTimeOffset? InFlightSince);

/// <summary>Every message to a scheduler names the agent (routing reads only this; an agent reaches only its own jobs).</summary>
public interface ISchedulerMessage : IWithAgentName, IKruxMessage;

/// <summary>A command, decided by <see cref="SchedulerStateExtensions.ProcessCommand"/>.</summary>
public interface ISchedulerCommand : ISchedulerMessage;

/// <summary>The commands.</summary>
public static class SchedulerCommands
{
    /// <summary><c>scheduler.cron_create</c>. The handler has checked that the capability exists.</summary>
    [WireName("scheduler.create-cron.v1")]
    public sealed record CreateCron(AgentName Agent, string JobId, CapabilityName Capability, StoredJson Inputs, string Schedule, string? Description) : ISchedulerCommand;

    /// <summary><c>scheduler.delay</c>: run once, <paramref name="DelaySeconds"/> from now.</summary>
    [WireName("scheduler.create-delay.v1")]
    public sealed record CreateDelay(AgentName Agent, string JobId, CapabilityName Capability, StoredJson Inputs, long DelaySeconds, string? Description) : ISchedulerCommand;

    /// <summary><c>scheduler.cron_delete</c> (cron jobs and pending delays alike).</summary>
    [WireName("scheduler.delete-job.v1")]
    public sealed record DeleteJob(AgentName Agent, string JobId) : ISchedulerCommand;

    /// <summary><c>scheduler.cron_list</c>.</summary>
    [WireName("scheduler.list-jobs.v1")]
    public sealed record ListJobs(AgentName Agent) : ISchedulerCommand;

    /// <summary>The timer fired (or the entity recovered): fire what is due now, skip what was missed.</summary>
    [WireName("scheduler.tick.v1")]
    public sealed record Tick(AgentName Agent) : ISchedulerCommand;

    /// <summary>A run's outcome came back.</summary>
    [WireName("scheduler.finish-run.v1")]
    public sealed record FinishRun(AgentName Agent, string JobId, string RunId, bool Succeeded) : ISchedulerCommand;

    /// <summary>Stop running the agent's jobs.</summary>
    [WireName("scheduler.suspend.v1")]
    public sealed record Suspend(AgentName Agent, SuspendReason Reason) : ISchedulerCommand;

    /// <summary>Lift one reason; jobs run again when no reason is left, from their next due time.</summary>
    [WireName("scheduler.resume.v1")]
    public sealed record Resume(AgentName Agent, SuspendReason Reason) : ISchedulerCommand;
}

/// <summary>Persisted events of a scheduler; each carries its time.</summary>
public interface ISchedulerEvent : IKruxMessage
{
    /// <summary>When it happened.</summary>
    DateTimeOffset At { get; }
}

/// <summary>A job's next due time after a resume.</summary>
public sealed record JobDue(string JobId, DateTimeOffset? NextDue);

/// <summary>The events.</summary>
public static class SchedulerEvents
{
    /// <summary>A job was created.</summary>
    [WireName("scheduler.job-created.v1")]
    public sealed record JobCreated(ScheduledJob Job, DateTimeOffset At) : ISchedulerEvent;

    /// <summary>A job was deleted by its agent.</summary>
    [WireName("scheduler.job-deleted.v1")]
    public sealed record JobDeleted(string JobId, DateTimeOffset At) : ISchedulerEvent;

    /// <summary>
    /// The job fired for <paramref name="Due"/> as run <paramref name="RunId"/>; its next due time is
    /// <paramref name="NextDue"/> (null: a delay, done). Persisted before the run is submitted: this record is
    /// what makes a due time fire at most once, across restarts and node loss.
    /// </summary>
    [WireName("scheduler.job-fired.v1")]
    public sealed record JobFired(string JobId, string RunId, DateTimeOffset Due, DateTimeOffset? NextDue, DateTimeOffset At) : ISchedulerEvent;

    /// <summary>
    /// Due times from <paramref name="From"/> up to (not including) <paramref name="Before"/> did not run, for
    /// <paramref name="Reason"/>; the next due time is <paramref name="NextDue"/>. <paramref name="Removed"/>: a
    /// delay that will not run at all.
    /// </summary>
    [WireName("scheduler.job-skipped.v1")]
    public sealed record JobSkipped(string JobId, DateTimeOffset From, DateTimeOffset Before, string Reason, DateTimeOffset? NextDue, bool Removed, DateTimeOffset At) : ISchedulerEvent;

    /// <summary>A run's outcome was recorded (a delay is removed with it).</summary>
    [WireName("scheduler.run-finished.v1")]
    public sealed record RunFinished(string JobId, string RunId, bool Succeeded, DateTimeOffset At) : ISchedulerEvent;

    /// <summary>A run reported no outcome within the longest run duration; the job may fire again.</summary>
    [WireName("scheduler.run-interrupted.v1")]
    public sealed record RunInterrupted(string JobId, string RunId, DateTimeOffset At) : ISchedulerEvent;

    /// <summary>The agent's jobs stopped running.</summary>
    [WireName("scheduler.suspended.v1")]
    public sealed record SchedulerSuspended(SuspendReason Reason, DateTimeOffset At) : ISchedulerEvent;

    /// <summary>
    /// A reason was lifted; when none is left the jobs run again from <paramref name="NextDues"/> (decided from
    /// the time of the resume), and the delays in <paramref name="Expired"/> are dropped as missed.
    /// </summary>
    [WireName("scheduler.resumed.v1")]
    public sealed record SchedulerResumed(SuspendReason Reason, ImmutableArray<JobDue> NextDues, ImmutableArray<string> Expired, DateTimeOffset At) : ISchedulerEvent;
}

/// <summary>A reply of the scheduler: an output record of spec §8.12, or <see cref="SchedulerRefused"/>.</summary>
public interface ISchedulerReply : IKruxMessage;

/// <summary>Refused; nothing changed.</summary>
[WireName("scheduler.refused.v1")]
public sealed record SchedulerRefused(StructuredError Error) : ISchedulerReply;

/// <summary>A run to submit to the pipeline as the job's agent.</summary>
/// <param name="JobId">The job.</param>
/// <param name="RunId">The run id, also the call's idempotency key (<see cref="JobIds.RunId"/>).</param>
/// <param name="Agent">Who the call runs as.</param>
/// <param name="Capability">What it calls.</param>
/// <param name="Inputs">With what.</param>
/// <param name="Due">The due time it runs for.</param>
/// <param name="Trigger"><c>schedule</c> or <c>delay</c> (recorded in the audit entry).</param>
public sealed record ScheduledRun(string JobId, string RunId, AgentName Agent, CapabilityName Capability, StoredJson Inputs, DateTimeOffset Due, string Trigger);

/// <summary>Due times that did not run (for the notice in the agent's inbox).</summary>
public sealed record SkippedRuns(string JobId, DateTimeOffset From, DateTimeOffset Before, string Reason);

/// <summary>The replies.</summary>
public static class SchedulerReplies
{
    /// <summary><c>cron_id, schedule, next_run, capability</c>.</summary>
    [WireName("scheduler.cron-created.v1")]
    public sealed record CronCreated(string CronId, string Schedule, DateTimeOffset? NextRun, string Capability) : ISchedulerReply;

    /// <summary><c>delay_id, run_at, capability</c> (the undocumented <c>scheduler.delay</c>'s output, spec §18 row 24).</summary>
    [WireName("scheduler.delay-created.v1")]
    public sealed record DelayCreated(string DelayId, DateTimeOffset RunAt, string Capability) : ISchedulerReply;

    /// <summary><c>deleted, cron_id</c>.</summary>
    [WireName("scheduler.job-deleted-result.v1")]
    public sealed record DeleteResult(bool Deleted, string CronId) : ISchedulerReply;

    /// <summary>One job of <c>cron_list</c>: <c>cron_id, capability, inputs, schedule (null for a delay), next_run, description, enabled, created_at</c>.</summary>
    public sealed record JobEntry(string CronId, string Capability, StoredJson Inputs, string? Schedule, DateTimeOffset? NextRun, string Description,
        bool Enabled, DateTimeOffset CreatedAt);

    /// <summary><c>jobs[], total</c>.</summary>
    [WireName("scheduler.job-list.v1")]
    public sealed record JobList(ImmutableArray<JobEntry> Jobs, int Total) : ISchedulerReply;

    /// <summary>What a tick decided: runs to submit (after the events are persisted), skips to report, and when to wake next.</summary>
    [WireName("scheduler.tick-result.v1")]
    public sealed record TickResult(ImmutableArray<ScheduledRun> Runs, ImmutableArray<SkippedRuns> Skipped, DateTimeOffset? NextWake) : ISchedulerReply;

    /// <summary>An acknowledgement of a run outcome, suspend or resume: whether anything changed.</summary>
    [WireName("scheduler.ack.v1")]
    public sealed record Ack(bool Changed) : ISchedulerReply;
}

/// <summary>The scheduler errors (spec §16.2 <c>InvalidCronExpression</c>, <c>SchedulerError</c>).</summary>
public static class SchedulerErrors
{
    /// <summary>The schedule is not a 5-field cron expression we accept.</summary>
    public static StructuredError InvalidCronExpression(string expression, string reason) =>
        StructuredError.Create("InvalidCronExpression", $"Invalid cron expression: {reason}.")
            .WithRecovery("fix_input", "Use 5 fields: minute (0-59) hour (0-23) day-of-month (1-31) month (1-12) day-of-week (0-6, Sunday = 0); each '*', '*/N', a number, a range a-b or a list. Times are UTC.")
            .WithContext("schedule", expression.Length <= CronSchedule.MaxLength ? expression : expression[..CronSchedule.MaxLength]).WithContext("reason", reason);

    /// <summary>Any other scheduler failure.</summary>
    public static StructuredError SchedulerError(string reason, string action, string description) =>
        StructuredError.Create("SchedulerError", $"Scheduler: {reason}.")
            .WithRecovery(action, description)
            .WithContext("reason", reason);
}
