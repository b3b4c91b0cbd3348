namespace KruxOS.Core.Capabilities;

/// <summary>
/// Maps dotted capability names to MCP tool names and back (ADR 0003): outbound dots become a double
/// underscore (<c>filesystem.read</c> → <c>filesystem__read</c>); inbound, the dotted form, the
/// double-underscore form and the single-underscore form used by some bridges are all accepted.
/// The single-underscore form is ambiguous (<c>network_http_request</c>), so it is resolved only by
/// looking it up among the known capabilities.
/// </summary>
public static class ToolNames
{
    /// <summary>The MCP tool name of a capability.</summary>
    public static string ToMcp(CapabilityName name) => name.Value.Replace(".", "__", StringComparison.Ordinal);

    /// <summary>The single-underscore alias of a capability.</summary>
    public static string ToSingleUnderscore(CapabilityName name) => name.Value.Replace('.', '_');
}
