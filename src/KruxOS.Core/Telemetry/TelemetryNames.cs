namespace KruxOS.Core.Telemetry;

/// <summary>
/// Every name the gateway's telemetry uses, in one place: the meter and activity source, the instruments, the span
/// names and the attribute (label) keys. docs/observability.md lists them with their meaning; a rename here is a
/// breaking change for every dashboard and alert built on them.
/// </summary>
public static class TelemetryNames
{
    /// <summary>The one <c>Meter</c> and <c>ActivitySource</c> name of the gateway.</summary>
    public const string Source = "KruxOS";

    /// <summary>Counter: calls answered, by capability, tier and outcome (rate → calls per second).</summary>
    public const string Calls = "kruxos.calls";

    /// <summary>Histogram (seconds): a call from the session's receipt to its answer, by capability, tier and outcome.</summary>
    public const string CallDuration = "kruxos.call.duration";

    /// <summary>Histogram (seconds): one stage of a call (<see cref="Stage"/>), by capability and tier.</summary>
    public const string StageDuration = "kruxos.call.stage.duration";

    /// <summary>Counter: calls answered with an error, by capability and error code.</summary>
    public const string CallErrors = "kruxos.call.errors";

    /// <summary>Observable gauge: approvals pending a human decision on this node.</summary>
    public const string ApprovalsPending = "kruxos.approvals.pending";

    /// <summary>Observable gauge: buffered writes of the Service Proxy in the dead letters (<c>dead_letter_queue_depth</c>).</summary>
    public const string ProxyDeadLetters = "kruxos.proxy.dead_letters";

    /// <summary>Histogram (seconds): one group commit of the audit writer (write and fsync of a batch), by result.</summary>
    public const string AuditCommitDuration = "kruxos.audit.commit.duration";

    /// <summary>Histogram (entries): the size of each audit group commit, by result.</summary>
    public const string AuditCommitEntries = "kruxos.audit.commit.entries";

    /// <summary>Span of one call; its children are the stage spans.</summary>
    public const string CallSpan = "kruxos.call";

    /// <summary>Stage span and <see cref="Stage"/> label values, in pipeline order.</summary>
    public const string StageDecide = "decide";

    /// <inheritdoc cref="StageDecide"/>
    public const string StageHold = "hold";

    /// <inheritdoc cref="StageDecide"/>
    public const string StageExecute = "execute";

    /// <inheritdoc cref="StageDecide"/>
    public const string StageAudit = "audit";

    /// <summary>Span name of a stage: <c>kruxos.call.decide</c>, …</summary>
    public static string StageSpan(string stage) => stage switch
    {
        StageDecide => "kruxos.call.decide",
        StageHold => "kruxos.call.hold",
        StageExecute => "kruxos.call.execute",
        StageAudit => "kruxos.call.audit",
        _ => throw new ArgumentOutOfRangeException(nameof(stage), stage, "not a pipeline stage"),
    };

    /// <summary>Label / attribute: the capability's catalogue name, or <see cref="TelemetryLabels.UnknownCapability"/>.</summary>
    public const string Capability = "kruxos.capability";

    /// <summary>Label / attribute: the policy tier (<c>autonomous</c>, <c>notify</c>, <c>approval_required</c>, <c>blocked</c>, or <c>none</c>).</summary>
    public const string Tier = "kruxos.tier";

    /// <summary>Label / attribute: how the call ended (<c>success</c>, <c>denied</c>, <c>error</c>, <c>pending</c>).</summary>
    public const string Outcome = "kruxos.outcome";

    /// <summary>Label / attribute: the error code of a failed call (bounded, <see cref="TelemetryLabels"/>).</summary>
    public const string ErrorCode = "kruxos.error.code";

    /// <summary>Label: the pipeline stage of <see cref="StageDuration"/>.</summary>
    public const string Stage = "kruxos.stage";

    /// <summary>Label: the result of an audit group commit (<c>ok</c> or <c>failed</c>).</summary>
    public const string Result = "kruxos.result";

    /// <summary>Span attribute (never a metric label): the agent's name.</summary>
    public const string Agent = "kruxos.agent";

    /// <summary>Span attribute (never a metric label): the gateway's id of the connection the call came on.</summary>
    public const string Session = "kruxos.session";

    /// <summary>Span attribute: the approval a held call waited on.</summary>
    public const string Approval = "kruxos.approval.id";

    /// <summary>Span attribute: the approval's decision as it reached the call.</summary>
    public const string ApprovalDecision = "kruxos.approval.decision";
}
