using Akka.Persistence.Journal;
using Akka.Persistence.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Hosting;

/// <summary>Journal event adapters an area needs (for example a tagger, so a projection can rebuild from a tag query).</summary>
public static class JournalAdapters
{
    /// <summary>
    /// Adds <typeparamref name="TAdapter"/> as a write adapter named <paramref name="name"/> for <paramref name="eventTypes"/> to the
    /// node's journal (see <see cref="KruxOsHostingExtensions.ConfigurePersistence"/>).
    /// </summary>
    public static IServiceCollection AddJournalEventAdapter<TAdapter>(this IServiceCollection services, string name, params Type[] eventTypes)
        where TAdapter : IWriteEventAdapter
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (eventTypes.Length == 0) throw new ArgumentException("an event adapter needs at least one event type", nameof(eventTypes));
        services.AddSingleton<JournalEventAdapter>(new WriteAdapter<TAdapter>(name, [.. eventTypes]));
        return services;
    }
}

/// <summary>A registered journal event adapter; applied to the node's journal when persistence is configured.</summary>
public abstract class JournalEventAdapter(string name)
{
    /// <summary>The adapter's name in the journal configuration.</summary>
    public string Name { get; } = name;

    /// <summary>Adds the adapter to the journal.</summary>
    public abstract void Apply(AkkaPersistenceJournalBuilder journal);
}

internal sealed class WriteAdapter<TAdapter>(string name, Type[] eventTypes) : JournalEventAdapter(name) where TAdapter : IWriteEventAdapter
{
    public override void Apply(AkkaPersistenceJournalBuilder journal) => journal.AddWriteEventAdapter<TAdapter>(Name, eventTypes);
}
