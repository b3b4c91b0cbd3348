namespace KruxOS.Capabilities;

/// <summary>
/// The set of capability modules cannot form a catalogue (a definition without a handler, a handler without a
/// definition, a category claimed twice, …). Raised at start-up, before any listener opens; the message names the
/// module and the capability.
/// </summary>
public sealed class CapabilityModuleException(string message) : Exception(message);
