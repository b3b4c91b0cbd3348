using System.Collections.Frozen;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;
using SerializationException = System.Runtime.Serialization.SerializationException;
using KruxOS.Core;
using KruxOS.Core.Serialization;

namespace KruxOS.Actors.Serialization;

/// <summary>
/// Serializer for every <see cref="IKruxMessage"/>: System.Text.Json payloads with stable manifests
/// taken from <see cref="WireNameAttribute"/> (ADR 0002). Used for the journal and for remoting, so a
/// class can be renamed without breaking stored events. Actor references are written as paths.
/// </summary>
public sealed class KruxSerializer : SerializerWithStringManifest
{
    /// <summary>The serializer id; frozen once released.</summary>
    public const int Id = 7700;

    private static readonly Lazy<(FrozenDictionary<Type, string> ByType, FrozenDictionary<string, Type> ByName)> Manifests = new(Scan);
    private readonly JsonSerializerOptions _options;

    public KruxSerializer(ExtendedActorSystem system) : base(system)
    {
        var options = new JsonSerializerOptions(CoreJson.Options) { PropertyNamingPolicy = null };
        options.Converters.Add(new ActorRefConverter(system));
        options.MakeReadOnly(populateMissingResolver: true);
        _options = options;
    }

    /// <inheritdoc />
    public override int Identifier => Id;

    /// <summary>Every registered wire name, for tests and docs.</summary>
    public static IReadOnlyDictionary<string, Type> WireNames => Manifests.Value.ByName;

    /// <inheritdoc />
    public override byte[] ToBinary(object obj) => JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), _options);

    /// <inheritdoc />
    public override object FromBinary(byte[] bytes, string manifest)
    {
        if (!Manifests.Value.ByName.TryGetValue(manifest, out var type))
            throw new SerializationException($"Unknown KruxOS manifest '{manifest}'");
        return JsonSerializer.Deserialize(bytes, type, _options)
               ?? throw new SerializationException($"Null payload for manifest '{manifest}'");
    }

    /// <inheritdoc />
    public override string Manifest(object o) =>
        Manifests.Value.ByType.TryGetValue(o.GetType(), out var name)
            ? name
            : throw new SerializationException($"{o.GetType().FullName} implements IKruxMessage but has no [WireName]");

    private static (FrozenDictionary<Type, string>, FrozenDictionary<string, Type>) Scan()
    {
        var byType = new Dictionary<Type, string>();
        var byName = new Dictionary<string, Type>(StringComparer.Ordinal);
        foreach (var asm in new[] { typeof(IKruxMessage).Assembly, typeof(KruxSerializer).Assembly })
        foreach (var type in asm.GetTypes())
        {
            if (type.GetCustomAttribute<WireNameAttribute>() is not { } attr) continue;
            if (!byName.TryAdd(attr.Name, type))
                throw new InvalidOperationException($"wire name '{attr.Name}' is used by {byName[attr.Name]} and {type}");
            byType[type] = attr.Name;
        }
        return (byType.ToFrozenDictionary(), byName.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private sealed class ActorRefConverter(ExtendedActorSystem system) : JsonConverter<IActorRef>
    {
        public override bool CanConvert(Type typeToConvert) => typeof(IActorRef).IsAssignableFrom(typeToConvert);

        public override IActorRef Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            var path = reader.GetString();
            return string.IsNullOrEmpty(path) ? ActorRefs.Nobody : system.Provider.ResolveActorRef(path);
        }

        public override void Write(Utf8JsonWriter writer, IActorRef value, JsonSerializerOptions options) =>
            writer.WriteStringValue(Akka.Serialization.Serialization.SerializedActorPath(value));
    }
}
