using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Audit;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;

namespace KruxOS.Actors.Calls;

/// <summary>
/// The one way a call enters the pipeline: every edge (MCP <c>tools/call</c>, <c>/rpc capabilities.invoke</c>,
/// <c>/api/hook/decide</c>) and every in-process submitter (the scheduler, the dashboard) hands a
/// <see cref="CallSubmission"/> to this dispatcher. It goes straight to the agent's session entity (no extra
/// mailbox hop), waits as long as <see cref="DispatchTimeouts.For"/> says for its mode, and fails closed: a
/// submitter that stops waiting reports <see cref="Errors.Timeout"/>, never a success.
/// </summary>
/// <remarks>
/// A submission from async code waits through a <see cref="HeldCallWaiter"/> on this node (when the dispatcher has the
/// <paramref name="system"/>), which re-attaches a held call to its approval if the session entity holding it goes away, and
/// answers a call that may have run <c>OutcomeUnknown</c> at once — recorded in <paramref name="audit"/>'s log — when the
/// session entity running it is lost with its node (ADR 0058). Without the system it waits with one Ask.
/// </remarks>
public sealed class CallDispatcher(IRequiredActor<AgentSessionRegion> sessions, DispatchTimeouts timeouts, ActorSystem? system = null,
    IRequiredActor<AuditWriter>? audit = null, CapabilityCatalog? catalog = null, TimeProvider? clock = null)
{
    /// <summary>How long the edge waits for the audit entry of a call lost with its node before answering anyway.</summary>
    public static readonly TimeSpan LostCallAuditTimeout = TimeSpan.FromSeconds(10);

    private IActorRef? _region;
    private IActorRef? _audit;

    /// <summary>The timeout policy in force.</summary>
    public DispatchTimeouts Timeouts => timeouts;

    /// <summary>How long a submitter of <paramref name="mode"/> waits (an actor arms its own timer with it).</summary>
    public TimeSpan TimeoutFor(CallMode mode) => timeouts.For(mode);

    /// <summary>
    /// Submits from async code (an edge), waiting <see cref="TimeoutFor"/> with the caller's token. A timeout
    /// is answered with <see cref="TimedOut"/>; cancellation (the caller went away) propagates as
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task<ToolCallResult> DispatchAsync(CallSubmission submission, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var call = submission.ToToolCall();
        var timeout = timeouts.For(submission.Mode);
        var region = _region ??= await sessions.GetAsync(cancellationToken).ConfigureAwait(false);
        if (system is not null)
        {
            var lost = audit is null ? null : new LostCallAudit(_audit ??= await audit.GetAsync(cancellationToken).ConfigureAwait(false), clock ?? TimeProvider.System,
                catalog?.Registry.TryResolve(call.RequestedName, out var definition) == true ? definition.Name.Value : call.RequestedName, LostCallAuditTimeout);
            return await WaitAsync(system, region, call, timeout, lost, cancellationToken).ConfigureAwait(false);
        }
        try
        {
            return await region.Ask<ToolCallResult>(replyTo => new AgentSessionCommands.Invoke(call.Agent, call, replyTo), timeout, cancellationToken)
                .ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return TimedOut(submission.Capability, timeout);
        }
    }

    // One waiter per call; the caller going away stops it (a held run then stops holding: the request stays pending).
    private static async Task<ToolCallResult> WaitAsync(ActorSystem system, IActorRef region, ToolCall call, TimeSpan timeout, LostCallAudit? audit,
        CancellationToken cancellationToken)
    {
        var answer = new TaskCompletionSource<ToolCallResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = system.ActorOf(HeldCallWaiter.Props(region, call, answer, timeout, audit));
        await using (cancellationToken.Register(() => waiter.Tell(PoisonPill.Instance)).ConfigureAwait(false))
            return await answer.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Submits from an actor (no Ask inside actors): the session answers <paramref name="replyTo"/> with a
    /// <see cref="ToolCallResult"/>. The submitter arms a timer of <see cref="TimeoutFor"/> and, when it fires
    /// first, treats the call as <see cref="TimedOut"/>, as the edges do. Call it once the actor system has
    /// started (the session region is registered by then).
    /// </summary>
    public void Dispatch(CallSubmission submission, IActorRef replyTo)
    {
        ArgumentNullException.ThrowIfNull(submission);
        ArgumentNullException.ThrowIfNull(replyTo);
        var call = submission.ToToolCall();
        var region = _region ??= sessions.ActorRef;
        region.Tell(new AgentSessionCommands.Invoke(call.Agent, call, replyTo), ActorRefs.NoSender);
    }

    /// <summary>
    /// The fail-closed answer of a submitter that stopped waiting: the call's fate is unknown, so it is reported as a
    /// retryable <c>Timeout</c> naming the capability and the time waited, with no tier and no data.
    /// </summary>
    public static ToolCallResult TimedOut(string capability, TimeSpan waited) =>
        ToolCallResult.Failure(capability, Errors.Timeout(capability, waited.TotalSeconds), null, 0);
}
