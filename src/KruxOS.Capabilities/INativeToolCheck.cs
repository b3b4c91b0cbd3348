using System.Text.Json;
using KruxOS.Core.Errors;

namespace KruxOS.Capabilities;

/// <summary>
/// A handler whose capability a client's own tool can stand for (cli-hook maps e.g. <c>curl</c> and WebFetch to
/// <c>network.http_request</c>; the client runs its tool once the gateway allows it). Besides the tier, such a call is
/// refused when the gateway itself would refuse what the native tool is about to do with the same arguments — e.g. a
/// destination outside the agent's egress allowlist. The check is pure: it must not perform the operation.
/// </summary>
public interface INativeToolCheck
{
    /// <summary>The refusal for a native use with <paramref name="arguments"/> (validated, normalized); null when allowed.</summary>
    StructuredError? CheckNativeUse(InvocationContext context, JsonElement arguments);
}
