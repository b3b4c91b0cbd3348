using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;

namespace KruxOS.Network;

/// <summary>
/// The egress check of a client's own fetch (cli-hook: <c>curl</c>, WebFetch) decided as a network capability: the URL
/// must parse, and its host and port (an address literal: its address rules) must be allowed by every declaring layer.
/// The client resolves the name itself, so the gateway cannot pin the address it connects to; the name check is what
/// can be enforced.
/// </summary>
internal static class NativeUse
{
    public static StructuredError? Check(InvocationContext context, JsonElement arguments)
    {
        ArgumentNullException.ThrowIfNull(context);
        var url = arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty("url", out var u) && u.ValueKind == JsonValueKind.String
            ? u.GetString()
            : null;
        if (!EgressPolicy.TryParseTarget(url, out var target, out var refusal)) return refusal.ToError();
        var decision = EgressPolicy.CheckName(target, context.Policy.Egress(context.Principal));
        return decision.Allowed ? null : decision.ToError();
    }
}
