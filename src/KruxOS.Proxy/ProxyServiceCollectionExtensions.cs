using System.Collections.Immutable;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Proxy;

/// <summary>Registration of service adapters.</summary>
public static class ProxyServiceCollectionExtensions
{
    /// <summary>
    /// Registers an adapter (a singleton; its options and <c>HttpClient</c> are the adapter's own registrations). The proxy
    /// area finds every registered adapter through <see cref="ServiceAdapters"/>; registering the same type twice has no effect.
    /// </summary>
    public static IServiceCollection AddServiceAdapter<TAdapter>(this IServiceCollection services) where TAdapter : class, IServiceAdapter
    {
        ArgumentNullException.ThrowIfNull(services);
        services.TryAddSingleton<TAdapter>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IServiceAdapter, TAdapter>(sp => sp.GetRequiredService<TAdapter>()));
        services.TryAddSingleton(sp => new ServiceAdapters(sp.GetServices<IServiceAdapter>()));
        return services;
    }
}

/// <summary>
/// The node's registered adapters by service, checked once: two adapters for one service or one category, or an
/// inconsistent descriptor, is a start-up error.
/// </summary>
public sealed class ServiceAdapters
{
    private readonly ImmutableDictionary<string, IServiceAdapter> _byService;
    private readonly ImmutableDictionary<string, IServiceAdapter> _byCategory;

    /// <summary>Indexes <paramref name="adapters"/>.</summary>
    public ServiceAdapters(IEnumerable<IServiceAdapter> adapters)
    {
        ArgumentNullException.ThrowIfNull(adapters);
        var byService = ImmutableDictionary.CreateBuilder<string, IServiceAdapter>(StringComparer.Ordinal);
        var byCategory = ImmutableDictionary.CreateBuilder<string, IServiceAdapter>(StringComparer.Ordinal);
        foreach (var a in adapters)
        {
            var d = a.Descriptor;
            if (d.Validate() is { } error) throw new InvalidOperationException(error);
            if (!byService.TryAdd(d.Name.Value, a)) throw new InvalidOperationException($"two adapters for the service '{d.Name}'");
            foreach (var c in d.Categories)
                if (!byCategory.TryAdd(c, a)) throw new InvalidOperationException($"the category '{c}' is served by two services");
        }
        _byService = byService.ToImmutable();
        _byCategory = byCategory.ToImmutable();
    }

    /// <summary>Every adapter, by service name.</summary>
    public IEnumerable<IServiceAdapter> All => _byService.Values.OrderBy(a => a.Descriptor.Name.Value, StringComparer.Ordinal);

    /// <summary>Every descriptor (what the decide stage's batch protection reads).</summary>
    public ImmutableArray<AdapterDescriptor> Descriptors => [.. All.Select(a => a.Descriptor)];

    /// <summary>The adapter of <paramref name="service"/>, or null.</summary>
    public IServiceAdapter? Find(ServiceName service) => _byService.GetValueOrDefault(service.Value);

    /// <summary>The adapter serving <paramref name="capability"/>'s category, or null.</summary>
    public IServiceAdapter? ForCapability(CapabilityName capability) => _byCategory.GetValueOrDefault(capability.Category);
}
