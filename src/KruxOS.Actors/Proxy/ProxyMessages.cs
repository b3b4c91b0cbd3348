using Akka.Persistence.Journal;
using KruxOS.Core;
using KruxOS.Core.Proxy;
using KruxOS.Core.Serialization;

namespace KruxOS.Actors.Proxy;

/// <summary>Registry key of the buffered-write region (shard region or its single-node stand-in).</summary>
public sealed class WriteRegion;

/// <summary>Registry key of the node's sync runner.</summary>
public sealed class ProxySyncRunner;

/// <summary>Messages to a buffered-write entity besides its commands.</summary>
public static class WriteMessages
{
    /// <summary>Asks for the write's <see cref="BufferedWriteState"/>.</summary>
    [WireName("proxy.get-write.v1")]
    public sealed record GetWrite(WriteId WriteId) : IWithWriteId, IKruxMessage;

    /// <summary>Wakes the entity so it acts on a window or retry that is due (sent by the write index, e.g. after a restart).</summary>
    [WireName("proxy.wake-write.v1")]
    public sealed record WakeWrite(WriteId WriteId) : IWithWriteId, IKruxMessage;

    /// <summary>
    /// An operator asks for the executed write's rollback (ADR 0065). Answered with a <see cref="WriteResult"/> once the
    /// outcome is recorded: a request that arrives while an attempt runs waits for that attempt and gets its result.
    /// </summary>
    [WireName("proxy.rollback-request.v1")]
    public sealed record RollbackRequest(WriteId WriteId, string By, DateTimeOffset At) : IWithWriteId, IKruxMessage;
}

/// <summary>Tags every write event with <see cref="Tag"/> so the write index can be rebuilt with a tag query.</summary>
public sealed class WriteEventTagger : IWriteEventAdapter
{
    /// <summary>The journal tag of write events.</summary>
    public const string Tag = "proxy-write";

    /// <inheritdoc />
    public string Manifest(object evt) => string.Empty;

    /// <inheritdoc />
    public object ToJournal(object evt) => evt is IWriteEvent ? new Tagged(evt, [Tag]) : evt;
}

/// <summary>Routes <see cref="IWithWriteId"/> messages to the write's entity.</summary>
public sealed class WriteMessageExtractor() : Akka.Cluster.Sharding.HashCodeMessageExtractor(ShardCount)
{
    /// <summary>About ten times the largest planned cluster. Frozen once deployed.</summary>
    public const int ShardCount = 50;

    /// <inheritdoc />
    public override string? EntityId(object message) => (message as IWithWriteId)?.WriteId.Value;
}
