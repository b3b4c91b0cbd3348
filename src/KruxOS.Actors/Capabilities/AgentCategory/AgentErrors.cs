using KruxOS.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Capabilities.AgentCategory;

/// <summary>Errors the <c>agent.*</c> capabilities share.</summary>
internal static class AgentErrors
{
    /// <summary>The call's session is bound to no known agent.</summary>
    public static StructuredError SessionError(InvocationContext context) =>
        StructuredError.Create("SessionError", $"The session is not bound to a known agent ('{context.Session.Agent}').")
            .WithRecovery("reconnect", "Reconnect with your agent token.");
}
