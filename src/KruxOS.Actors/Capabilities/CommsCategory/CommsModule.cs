using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Comms;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Capabilities.CommsCategory;

/// <summary>The <c>comms.*</c> capabilities: durable inboxes and channels between agents (gateway-owned state).</summary>
public sealed class CommsModule() : CapabilityModule("comms", "comms");

/// <summary>What the comms handlers share: who is calling, and reading their arguments.</summary>
internal static class CommsCalls
{
    /// <summary>
    /// The sender of a call: the agent whose session it is. When an operator's user token drives that agent (the
    /// bridge), the message still comes from the agent and the user is the first link of its delegation chain; the call's
    /// audit entry names both (principal and <c>details.agent</c>).
    /// </summary>
    public static (AgentName Sender, ImmutableArray<string> Delegation) Sender(InvocationContext context)
    {
        var agent = context.Session.Agent;
        var p = context.Principal;
        ImmutableArray<string> chain = p.Kind == PrincipalKind.User ? [PrincipalText.Of(p)] : [];
        return (agent, chain);
    }

    public static string? String(JsonElement args, string name) =>
        args.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static MessagePriority Priority(JsonElement args)
    {
        if (!CommsMessages.TryParsePriority(String(args, "priority"), out var p))
            throw new CapabilityException(Errors.InvalidInput("priority", "must be low, normal or high"));
        return p;
    }

    public static string Body(JsonElement args)
    {
        var body = String(args, "message");
        if (CommsMessages.ValidateBody(body, InboxLimits.Default.MaxBodyBytes) is { } bad) throw new CapabilityException(bad);
        return body!;
    }

    public static StructuredError Failure(Comms.Delivery d) => d.Error ?? CommsErrors.CommsError("the message was not queued", "retry");
}
