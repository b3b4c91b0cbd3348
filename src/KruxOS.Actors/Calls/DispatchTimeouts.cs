using KruxOS.Actors.Hosting;

namespace KruxOS.Actors.Calls;

/// <summary>
/// The one timeout policy of call submission: how long a submitter waits for the pipeline's answer, by
/// <see cref="CallMode"/>. The pipeline answers on its own timers (run deadline, approval hold), so these are the
/// outer bound after which the submitter stops waiting and reports a timeout (never a success).
/// </summary>
/// <param name="Call">The longest a call runs once decided (the gateway's <c>Gateway:CallTimeout</c>).</param>
/// <param name="ApprovalHold">The longest a held call waits for a human decision (<c>KruxOS:ApprovalHoldTimeout</c>).</param>
/// <param name="Decision">The longest a decide-only call may take (a hook must answer within its own budget).</param>
public sealed record DispatchTimeouts(TimeSpan Call, TimeSpan ApprovalHold, TimeSpan Decision)
{
    /// <summary>The decide-only budget: the gateway answers a hook within this (the hook itself gives up after 10 s).</summary>
    public static readonly TimeSpan DefaultDecision = TimeSpan.FromSeconds(8);

    /// <summary>The call budget above the run deadline that lets the pipeline answer first (audit, reply).</summary>
    public static readonly TimeSpan CallMargin = TimeSpan.FromSeconds(15);

    /// <inheritdoc cref="DispatchTimeouts" path="/param[@name='Call']"/>
    public TimeSpan Call { get; } = Positive(Call, nameof(Call));

    /// <inheritdoc cref="DispatchTimeouts" path="/param[@name='ApprovalHold']"/>
    public TimeSpan ApprovalHold { get; } = Positive(ApprovalHold, nameof(ApprovalHold));

    /// <inheritdoc cref="DispatchTimeouts" path="/param[@name='Decision']"/>
    public TimeSpan Decision { get; } = Positive(Decision, nameof(Decision));

    /// <summary>The policy of a node without the gateway's settings: the run deadline plus <see cref="CallMargin"/>.</summary>
    public static DispatchTimeouts From(KruxOsSettings settings) =>
        new(settings.ToolCallTimeout + CallMargin, settings.ApprovalHoldTimeout, DefaultDecision);

    /// <summary>
    /// How long a submitter waits in <paramref name="mode"/>: a held call for the hold plus the call; a polled call
    /// for the call; a decide-only call for the shorter of the call and the decision budget.
    /// </summary>
    public TimeSpan For(CallMode mode) => mode switch
    {
        CallMode.Held => Call + ApprovalHold,
        CallMode.Poll => Call,
        CallMode.DecideOnly => Call < Decision ? Call : Decision,
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "unknown call mode"),
    };

    private static TimeSpan Positive(TimeSpan value, string name) =>
        value > TimeSpan.Zero ? value : throw new ArgumentOutOfRangeException(name, value, "a dispatch timeout must be positive");
}
