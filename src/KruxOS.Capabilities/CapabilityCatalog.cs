using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Capabilities;

/// <summary>
/// The capabilities this node executes: every definition with exactly one handler. A definition without a handler, or a
/// handler without a definition, is a start-up error, never a silently missing tool.
/// </summary>
public sealed class CapabilityCatalog
{
    private readonly FrozenDictionary<string, ICapabilityHandler> _handlers;

    /// <summary>Pairs definitions with handlers by name; both directions must match exactly.</summary>
    public CapabilityCatalog(IEnumerable<CapabilityDefinition> definitions, IEnumerable<ICapabilityHandler> handlers)
    {
        ArgumentNullException.ThrowIfNull(definitions);
        ArgumentNullException.ThrowIfNull(handlers);
        var byName = new Dictionary<string, ICapabilityHandler>(StringComparer.Ordinal);
        foreach (var h in handlers)
            if (!byName.TryAdd(h.Name.Value, h)) throw new ArgumentException($"two handlers for '{h.Name}'", nameof(handlers));
        var defs = definitions.ToList();
        var names = defs.Select(d => d.Name.Value).ToHashSet(StringComparer.Ordinal);
        foreach (var name in byName.Keys)
            if (!names.Contains(name)) throw new ArgumentException($"handler for '{name}' has no definition", nameof(handlers));
        foreach (var d in defs)
            if (!byName.ContainsKey(d.Name.Value)) throw new ArgumentException($"definition '{d.Name}' has no handler", nameof(definitions));
        _handlers = byName.ToFrozenDictionary(StringComparer.Ordinal);
        Registry = new CapabilityRegistry(defs);
    }

    /// <summary>The offered capabilities.</summary>
    public CapabilityRegistry Registry { get; }

    /// <summary>The handler of an offered capability.</summary>
    public ICapabilityHandler HandlerFor(CapabilityName name) => _handlers[name.Value];

    /// <summary>Serializes an anonymous or typed result object into a standalone element.</summary>
    public static JsonElement ToElement<T>(T value) => JsonSerializer.SerializeToElement(value, KruxOS.Core.CoreJson.Options);

    /// <summary>
    /// Builds the catalogue of <paramref name="modules"/>: each module's definitions, each bound to the one handler its
    /// assembly's <see cref="CapabilityAttribute"/> classes or its <see cref="CapabilityModule.CreateHandler"/> supply.
    /// Throws <see cref="CapabilityModuleException"/>, naming the module and the capability, when a category is claimed
    /// twice, a definition lies outside its module's categories or takes a protected name, a definition has no handler or
    /// two, a handler class has no definition, or a handler class cannot be created or names another capability.
    /// </summary>
    public static CapabilityCatalog FromModules(IEnumerable<CapabilityModule> modules, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(modules);
        ArgumentNullException.ThrowIfNull(services);
        var list = modules.ToList();
        var owners = new Dictionary<string, CapabilityModule>(StringComparer.Ordinal);
        foreach (var m in list)
            foreach (var category in m.Categories)
                if (!owners.TryAdd(category, m))
                    throw new CapabilityModuleException($"modules '{owners[category].Name}' and '{m.Name}' both claim the category '{category}'");

        var definitions = new List<CapabilityDefinition>();
        var handlers = new List<ICapabilityHandler>();
        var claimedBy = new Dictionary<string, CapabilityModule>(StringComparer.Ordinal);
        foreach (var m in list)
        {
            var defs = m.LoadDefinitions();
            var byName = new Dictionary<string, CapabilityDefinition>(StringComparer.Ordinal);
            foreach (var d in defs)
            {
                if (!m.Categories.Contains(d.Name.Category, StringComparer.Ordinal))
                    throw new CapabilityModuleException($"module '{m.Name}' defines '{d.Name}', outside its categories ({string.Join(", ", m.Categories)})");
                if (IsProtectedName(d.Name.Value))
                    throw new CapabilityModuleException($"module '{m.Name}' defines '{d.Name}', a name the system protections block (spec §6.6); it must never exist");
                if (!byName.TryAdd(d.Name.Value, d))
                    throw new CapabilityModuleException($"module '{m.Name}' defines '{d.Name}' twice");
            }

            var classes = HandlerTypes(m);
            foreach (var (name, type) in classes)
            {
                if (!byName.ContainsKey(name))
                    throw new CapabilityModuleException($"module '{m.Name}': handler {type.FullName} implements '{name}', which has no definition");
                if (claimedBy.TryGetValue(name, out var other))
                    throw new CapabilityModuleException($"module '{m.Name}': '{name}' is also implemented by module '{other.Name}'");
                claimedBy[name] = m;
            }

            foreach (var d in defs)
            {
                var made = m.CreateHandler(d, services);
                var hasClass = classes.TryGetValue(d.Name.Value, out var type);
                if (made is not null && hasClass)
                    throw new CapabilityModuleException($"module '{m.Name}': '{d.Name}' has two handlers ({type!.FullName} and the module's own)");
                if (made is null && !hasClass)
                    throw new CapabilityModuleException($"module '{m.Name}': '{d.Name}' has no handler (no [Capability(\"{d.Name}\")] class and none made by the module)");
                var handler = made ?? Create(m, d.Name, type!, services);
                if (handler.Name != d.Name)
                    throw new CapabilityModuleException($"module '{m.Name}': the handler of '{d.Name}' says it executes '{handler.Name}'");
                handlers.Add(handler);
                definitions.Add(d);
            }
        }
        return new CapabilityCatalog(definitions, handlers);
    }

    private static bool IsProtectedName(string name) =>
        SystemProtections.BlocksUnconditionally(name) || name is "state.read_private" or "state.write_private";

    // The [Capability] classes of the module's assembly that belong to its categories, by capability name.
    private static Dictionary<string, Type> HandlerTypes(CapabilityModule module)
    {
        var found = new Dictionary<string, Type>(StringComparer.Ordinal);
        foreach (var type in TypesOf(module.GetType().Assembly))
        {
            if (type.IsAbstract || type.IsInterface || type.IsGenericTypeDefinition) continue;
            if (CapabilityAttribute.Declared(type) is not { } name) continue;
            if (!module.Categories.Contains(name.Category, StringComparer.Ordinal)) continue;
            if (!typeof(ICapabilityHandler).IsAssignableFrom(type))
                throw new CapabilityModuleException($"module '{module.Name}': {type.FullName} is marked [Capability(\"{name}\")] but is not an ICapabilityHandler");
            if (!found.TryAdd(name.Value, type))
                throw new CapabilityModuleException($"module '{module.Name}': '{name}' is implemented by both {found[name.Value].FullName} and {type.FullName}");
        }
        return found;
    }

    private static Type[] TypesOf(Assembly assembly)
    {
        try { return assembly.GetTypes(); }
        catch (ReflectionTypeLoadException e) { return [.. e.Types.OfType<Type>()]; }
    }

    private static ICapabilityHandler Create(CapabilityModule module, CapabilityName name, Type type, IServiceProvider services)
    {
        try { return (ICapabilityHandler)ActivatorUtilities.CreateInstance(services, type); }
        catch (InvalidOperationException e)
        {
            throw new CapabilityModuleException($"module '{module.Name}': the handler {type.FullName} of '{name}' cannot be created: {e.Message}");
        }
    }
}
