using KruxOS.Capabilities;

namespace KruxOS.Actors.Capabilities.SystemCategory;

/// <summary>The <c>system.*</c> capabilities: facts about the gateway node, answered in process.</summary>
public sealed class SystemModule() : CapabilityModule("system", "system");
