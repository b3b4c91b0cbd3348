namespace KruxOS.Core.Serialization;

/// <summary>
/// The stable manifest of a protocol type. It is written into the journal and onto the wire instead
/// of the CLR type name, so types can be renamed or moved without breaking stored events.
/// Once released, a wire name never changes and is never reused.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class WireNameAttribute(string name) : Attribute
{
    /// <summary>The manifest, e.g. <c>identity.agent-created.v1</c>.</summary>
    public string Name { get; } = name;
}
