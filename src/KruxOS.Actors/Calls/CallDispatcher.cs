using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;
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
/// A held submission from async code waits through a <see cref="HeldCallWaiter"/> on this node (when the dispatcher has
/// the <paramref name="system"/>), which re-attaches the call to its approval if the session entity holding it goes away
/// (ADR 0058); other modes answer at once and wait with one Ask.
/// </remarks>
public sealed class CallDispatcher(IRequiredActor<AgentSessionRegion> sessions, DispatchTimeouts timeouts, ActorSystem? system = null)
{
    private IActorRef? _region;

    /// <summary>The timeout policy in force.</summary>
    public DispatchTimeouts Timeouts => timeouts;

    /// <summary>How long a submitter of <paramref name="mode"/> waits (an actor arms its own timer with it).</summary>
    public TimeSpan TimeoutFor(CallMode mode) => timeouts.For(mode);

    /// <summary>
    /// Submits from async code (an edge): one Ask with <see cref="TimeoutFor"/> and the caller's token. A timeout
    /// is answered with <see cref="TimedOut"/>; cancellation (the caller went away) propagates as
    /// <see cref="OperationCanceledException"/>.
    /// </summary>
    public async Task<ToolCallResult> DispatchAsync(CallSubmission submission, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var call = submission.ToToolCall();
        var timeout = timeouts.For(submission.Mode);
        var region = _region ??= await sessions.GetAsync(cancellationToken).ConfigureAwait(false);
        if (submission.Mode == CallMode.Held && system is not null) return await HeldAsync(system, region, call, timeout, cancellationToken).ConfigureAwait(false);
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

    // One waiter per held call; the caller going away stops it (its run then stops holding: the request stays pending).
    private static async Task<ToolCallResult> HeldAsync(ActorSystem system, IActorRef region, ToolCall call, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var answer = new TaskCompletionSource<ToolCallResult>(TaskCreationOptions.RunContinuationsAsynchronously);
        var waiter = system.ActorOf(HeldCallWaiter.Props(region, call, answer, timeout));
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
