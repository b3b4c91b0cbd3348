namespace KruxOS.LoadTest.Stats;

/// <summary>How one operation ended.</summary>
public enum OutcomeKind
{
    /// <summary>A successful result.</summary>
    Ok,
    /// <summary>The connection or HTTP exchange failed (socket error, closed socket, non-2xx status, unreadable reply).</summary>
    TransportError,
    /// <summary>The server answered with a JSON-RPC <c>error</c> member.</summary>
    JsonRpcError,
    /// <summary>A <c>tools/call</c> result with <c>isError: true</c>.</summary>
    ToolError,
    /// <summary>No reply within the per-call timeout.</summary>
    Timeout,
    /// <summary>The approval decision the scenario sent for the call failed (the gateway's error type, or the transport's).</summary>
    DecisionError,
}

/// <summary>One operation's outcome; <see cref="Detail"/> names the error (JSON-RPC code, tool error type, exception type).</summary>
public readonly record struct CallOutcome(OutcomeKind Kind, string? Detail = null)
{
    /// <summary>Success.</summary>
    public static readonly CallOutcome Ok = new(OutcomeKind.Ok);

    /// <summary>True for <see cref="OutcomeKind.Ok"/>.</summary>
    public bool IsOk => Kind == OutcomeKind.Ok;

    /// <summary>A timeout.</summary>
    public static CallOutcome TimedOut() => new(OutcomeKind.Timeout);

    /// <summary>A failed approval decision described by <paramref name="detail"/>.</summary>
    public static CallOutcome Decision(string detail) => new(OutcomeKind.DecisionError, detail);

    /// <summary>A transport failure described by <paramref name="detail"/>.</summary>
    public static CallOutcome Transport(string detail) => new(OutcomeKind.TransportError, detail);

    /// <summary>The error-table key: <c>kind</c> or <c>kind[detail]</c>.</summary>
    public string Key => Kind switch
    {
        OutcomeKind.Ok => "ok",
        OutcomeKind.TransportError => Detail is null ? "transport_error" : $"transport_error[{Detail}]",
        OutcomeKind.JsonRpcError => Detail is null ? "jsonrpc_error" : $"jsonrpc_error[{Detail}]",
        OutcomeKind.ToolError => Detail is null ? "tool_error" : $"tool_error[{Detail}]",
        OutcomeKind.Timeout => "timeout",
        OutcomeKind.DecisionError => Detail is null ? "decision_error" : $"decision_error[{Detail}]",
        _ => "unknown",
    };
}
