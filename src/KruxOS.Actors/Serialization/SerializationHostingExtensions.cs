using Akka.Hosting;
using KruxOS.Core;

namespace KruxOS.Actors.Serialization;

/// <summary>Registers <see cref="KruxSerializer"/> for every <see cref="IKruxMessage"/>.</summary>
public static class SerializationHostingExtensions
{
    /// <summary>Binds <see cref="IKruxMessage"/> to the KruxOS serializer.</summary>
    public static AkkaConfigurationBuilder AddKruxSerialization(this AkkaConfigurationBuilder builder) =>
        builder.WithCustomSerializer("kruxos", [typeof(IKruxMessage)], system => new KruxSerializer(system));
}
