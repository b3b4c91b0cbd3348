using System.Collections.Concurrent;
using System.Reflection;
using KruxOS.Core.Capabilities;

namespace KruxOS.Capabilities;

/// <summary>
/// Marks a class as the handler of one capability of its module. The module finds it by this attribute (in the module's
/// assembly, for the module's categories) and creates it once from the service provider.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false, AllowMultiple = false)]
public sealed class CapabilityAttribute(string name) : Attribute
{
    private static readonly ConcurrentDictionary<Type, CapabilityName?> Names = new();

    /// <summary>The capability the class executes.</summary>
    public CapabilityName Name { get; } = CapabilityName.Parse(name);

    /// <summary>The name a class's <see cref="CapabilityAttribute"/> declares, or null without one.</summary>
    public static CapabilityName? Declared(Type type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return Names.GetOrAdd(type, static t => t.GetCustomAttribute<CapabilityAttribute>(inherit: false)?.Name);
    }

    /// <summary>The name a class's <see cref="CapabilityAttribute"/> declares; a class without one must say its name itself.</summary>
    public static CapabilityName NameOf(Type type) => Declared(type)
        ?? throw new InvalidOperationException($"{type.FullName} has no [Capability] attribute and does not override Name");
}
