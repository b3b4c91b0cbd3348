using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Clients;

/// <summary>One initialized MCP session, as lean as the driver needs: call a tool, ping, close.</summary>
public interface IMcpSession : IAsyncDisposable
{
    /// <summary>Sends one <c>tools/call</c> from <paramref name="template"/> and classifies the reply; never throws for server-side failures.</summary>
    Task<CallOutcome> CallToolAsync(McpWire.ToolCallTemplate template, CancellationToken ct);

    /// <summary>Sends a <c>ping</c> (checks an idle session is still served).</summary>
    Task<CallOutcome> PingAsync(CancellationToken ct);

    /// <summary>Ends the session the protocol's way (WebSocket close handshake, HTTP DELETE).</summary>
    Task CloseAsync(CancellationToken ct);
}

/// <summary>Thrown when a session cannot be opened or initialized.</summary>
public sealed class SessionOpenException(CallOutcome outcome, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>How the open failed.</summary>
    public CallOutcome Outcome { get; } = outcome;
}
