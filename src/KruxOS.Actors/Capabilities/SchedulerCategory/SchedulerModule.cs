using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Scheduling;
using KruxOS.Capabilities;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Scheduling;
using KruxOS.Core.State;
using static KruxOS.Core.Scheduling.SchedulerCommands;
using static KruxOS.Core.Scheduling.SchedulerReplies;

namespace KruxOS.Actors.Capabilities.SchedulerCategory;

/// <summary>The <c>scheduler.*</c> capabilities: an agent's own durable jobs, run as the agent through the pipeline.</summary>
public sealed class SchedulerModule() : CapabilityModule("scheduler", "scheduler");

/// <summary>Asks the caller's own scheduler entity (the agent is the session's, never an argument).</summary>
public sealed class SchedulerCalls(IRequiredActor<SchedulerRegion> schedulers)
{
    /// <summary>How long the entity is waited for.</summary>
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The entity's answer; a refusal or a timeout is thrown as the capability's error.</summary>
    public async Task<ISchedulerReply> AskAsync(ISchedulerCommand command, CancellationToken ct)
    {
        var region = await schedulers.GetAsync(ct).ConfigureAwait(false);
        ISchedulerReply reply;
        try
        {
            reply = await region.Ask<ISchedulerReply>(command, AskTimeout, ct).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            throw new CapabilityException(SchedulerErrors.SchedulerError("the scheduler did not answer in time", "retry", "Try again later."));
        }
        return reply is SchedulerRefused r ? throw new CapabilityException(r.Error) : reply;
    }

    /// <summary>The job's capability, which must exist on this node.</summary>
    public static CapabilityName Capability(InvocationContext context, JsonElement arguments)
    {
        var name = arguments.TryGetProperty("capability", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
        if (!context.Registry.TryResolve(name, out var definition)) throw new CapabilityException(Errors.UnknownCapability(name ?? ""));
        return definition.Name;
    }

    /// <summary>The job's inputs (an object, <c>{}</c> when absent), bounded.</summary>
    public static StoredJson Inputs(JsonElement arguments)
    {
        if (!arguments.TryGetProperty("inputs", out var i) || i.ValueKind == JsonValueKind.Null) return StoredJson.EmptyObject;
        if (i.ValueKind != JsonValueKind.Object) throw new CapabilityException(Errors.InvalidInput("inputs", "must be an object"));
        return StoredJson.TryCreate(i, SchedulerLimits.Default.MaxInputsBytes, out var stored, out var reason)
            ? stored
            : throw new CapabilityException(Errors.InvalidInput("inputs", reason));
    }

    /// <summary>An optional string argument.</summary>
    public static string? String(JsonElement arguments, string name) =>
        arguments.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
}

/// <summary><c>scheduler.cron_create</c>.</summary>
[Capability("scheduler.cron_create")]
public sealed class CronCreateHandler(SchedulerCalls calls) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var capability = SchedulerCalls.Capability(context, arguments);
        var command = new CreateCron(context.Session.Agent, JobIds.New(JobKind.Cron), capability, SchedulerCalls.Inputs(arguments),
            SchedulerCalls.String(arguments, "schedule") ?? "", SchedulerCalls.String(arguments, "description"));
        var r = (CronCreated)await calls.AskAsync(command, cancellationToken).ConfigureAwait(false);
        return CapabilityCatalog.ToElement(new { cron_id = r.CronId, schedule = r.Schedule, next_run = r.NextRun, capability = r.Capability });
    }
}

/// <summary><c>scheduler.delay</c>.</summary>
[Capability("scheduler.delay")]
public sealed class DelayHandler(SchedulerCalls calls) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var capability = SchedulerCalls.Capability(context, arguments);
        var seconds = arguments.TryGetProperty("delay_seconds", out var d) && d.ValueKind == JsonValueKind.Number && d.TryGetInt64(out var n) ? n : 0;
        var command = new CreateDelay(context.Session.Agent, JobIds.New(JobKind.Delay), capability, SchedulerCalls.Inputs(arguments), seconds,
            SchedulerCalls.String(arguments, "description"));
        var r = (DelayCreated)await calls.AskAsync(command, cancellationToken).ConfigureAwait(false);
        return CapabilityCatalog.ToElement(new { delay_id = r.DelayId, run_at = r.RunAt, capability = r.Capability });
    }
}

/// <summary><c>scheduler.cron_list</c>: the caller's own jobs.</summary>
[Capability("scheduler.cron_list")]
public sealed class CronListHandler(SchedulerCalls calls) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var r = (JobList)await calls.AskAsync(new ListJobs(context.Session.Agent), cancellationToken).ConfigureAwait(false);
        return CapabilityCatalog.ToElement(new
        {
            jobs = r.Jobs.Select(j => new
            {
                cron_id = j.CronId,
                capability = j.Capability,
                inputs = JsonDocument.Parse(j.Inputs.Text).RootElement.Clone(),
                schedule = j.Schedule,
                next_run = j.NextRun,
                description = j.Description,
                enabled = j.Enabled,
                created_at = j.CreatedAt,
            }),
            total = r.Total,
        });
    }
}

/// <summary><c>scheduler.cron_delete</c>: only the caller's own jobs (another agent's id is simply not found).</summary>
[Capability("scheduler.cron_delete")]
public sealed class CronDeleteHandler(SchedulerCalls calls) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var id = SchedulerCalls.String(arguments, "cron_id") ?? "";
        var r = (DeleteResult)await calls.AskAsync(new DeleteJob(context.Session.Agent, id), cancellationToken).ConfigureAwait(false);
        return CapabilityCatalog.ToElement(new { deleted = r.Deleted, cron_id = r.CronId });
    }
}
