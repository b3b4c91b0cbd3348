using System.Collections.Frozen;
using System.Collections.Immutable;

namespace KruxOS.Core.Capabilities;

/// <summary>
/// The immutable set of capabilities this gateway offers, with name lookup in every accepted form.
/// Only capabilities that have an executor are ever registered, so everything listed really runs.
/// </summary>
public sealed class CapabilityRegistry
{
    private readonly FrozenDictionary<string, CapabilityDefinition> _byAnyName;

    /// <summary>Builds a registry; names must be unique.</summary>
    public CapabilityRegistry(IEnumerable<CapabilityDefinition> definitions)
    {
        var ordered = definitions.OrderBy(d => d.Name.Value, StringComparer.Ordinal).ToImmutableArray();
        var map = new Dictionary<string, CapabilityDefinition>(StringComparer.Ordinal);
        foreach (var d in ordered)
        {
            if (map.ContainsKey(d.Name.Value))
                throw new ArgumentException($"capability '{d.Name}' is defined twice", nameof(definitions));
            map[d.Name.Value] = d;
            map[ToolNames.ToMcp(d.Name)] = d;
        }
        // Single-underscore aliases are added last and only when unambiguous.
        foreach (var group in ordered.GroupBy(d => ToolNames.ToSingleUnderscore(d.Name)))
            if (group.Count() == 1 && !map.ContainsKey(group.Key))
                map[group.Key] = group.Single();
        All = ordered;
        _byAnyName = map.ToFrozenDictionary(StringComparer.Ordinal);
        Categories = ordered.Select(d => d.Name.Category).Distinct().Order(StringComparer.Ordinal).ToImmutableArray();
    }

    /// <summary>Every capability, ordered by name.</summary>
    public ImmutableArray<CapabilityDefinition> All { get; }

    /// <summary>The categories present, ordered.</summary>
    public ImmutableArray<string> Categories { get; }

    /// <summary>Finds a capability by dotted, double-underscore or single-underscore name.</summary>
    public bool TryResolve(string? name, out CapabilityDefinition definition)
    {
        if (name is not null && _byAnyName.TryGetValue(name, out var d)) { definition = d; return true; }
        definition = null!;
        return false;
    }
}
