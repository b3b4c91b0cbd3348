using System.Collections.Immutable;
using System.Reflection;
using KruxOS.Core.Capabilities;

namespace KruxOS.Capabilities;

/// <summary>
/// A category (or a family of categories) of capabilities: where its definitions come from, its handlers (classes with a
/// <see cref="CapabilityAttribute"/> in the module's assembly) and, for definitions that no such class implements (an
/// executor shared by many definitions), <see cref="CreateHandler"/>. Registered with one call,
/// <c>services.AddCapabilityModule&lt;TModule&gt;()</c> (ADR 0032).
/// </summary>
/// <param name="name">The module's name, used in start-up errors.</param>
/// <param name="categories">The categories the module owns; no other module may claim them.</param>
public abstract class CapabilityModule(string name, params string[] categories)
{
    /// <summary>The module's name.</summary>
    public string Name { get; } = name;

    /// <summary>The categories the module owns.</summary>
    public ImmutableArray<string> Categories { get; } = [.. categories];

    /// <summary>
    /// The module's definitions. Default: the shipped catalogue's definitions of <see cref="Categories"/>
    /// (<see cref="DefinitionLoader.BuiltIn"/>). A test module or a pack returns its own (<see cref="FromEmbeddedYaml"/>).
    /// </summary>
    public virtual ImmutableArray<CapabilityDefinition> LoadDefinitions() =>
        [.. DefinitionLoader.BuiltIn().Where(d => Categories.Contains(d.Name.Category, StringComparer.Ordinal))];

    /// <summary>
    /// The handler of a definition that no <see cref="CapabilityAttribute"/> class of the module implements, or null when
    /// the module has none for it. Called once per definition when the catalogue is built.
    /// </summary>
    public virtual ICapabilityHandler? CreateHandler(CapabilityDefinition definition, IServiceProvider services) => null;

    /// <summary>The definitions of one YAML resource embedded in <paramref name="assembly"/> under <paramref name="logicalName"/>.</summary>
    protected static ImmutableArray<CapabilityDefinition> FromEmbeddedYaml(Assembly assembly, string logicalName)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        using var stream = assembly.GetManifestResourceStream(logicalName)
            ?? throw new CapabilityModuleException($"the assembly {assembly.GetName().Name} embeds no resource '{logicalName}'");
        using var reader = new StreamReader(stream);
        return [.. DefinitionLoader.Parse(reader.ReadToEnd(), logicalName)];
    }
}
