using KruxOS.Capabilities;

namespace KruxOS.Actors.Capabilities.AgentCategory;

/// <summary>The <c>agent.*</c> capabilities: the caller's identity, session and policy, answered in process.</summary>
public sealed class AgentModule() : CapabilityModule("agent", "agent");
