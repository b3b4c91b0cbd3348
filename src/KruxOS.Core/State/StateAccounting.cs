using KruxOS.Core.Errors;
using KruxOS.Core.Serialization;

namespace KruxOS.Core.State;

/// <summary>
/// How state is charged against its quota (the same rule for session, persistent and shared state):
/// <list type="bullet">
/// <item>a key costs its UTF-8 length plus <see cref="RecordOverheadBytes"/>;</item>
/// <item>every <b>retained</b> value costs the length of its canonical JSON (<see cref="StoredJson"/>) plus
/// <see cref="RecordOverheadBytes"/> — for persistent state that is every version still kept in history,
/// not just the latest, because every retained version is stored and held in memory.</item>
/// </list>
/// The overhead stands for the metadata each record really costs (version number, times, owner, the
/// framing of the stored snapshot): without it a quota in bytes would not bound the number of records,
/// and a million empty values would cost nothing. It is sized so that an entity's stored snapshot is
/// never larger than what is charged (a spec checks it for the worst case, tiny values), so a full quota
/// is also a bound on what recovery reads from the snapshot store.
/// </summary>
public static class StateAccounting
{
    /// <summary>Bytes charged per key and per retained value on top of their text.</summary>
    public const int RecordOverheadBytes = 64;

    /// <summary>One mebibyte; quotas configured in MB are mebibytes.</summary>
    public const long MiB = 1024 * 1024;

    /// <summary>What a key costs.</summary>
    public static long KeyCharge(string key) => StateKeys.ByteCount(key) + RecordOverheadBytes;

    /// <summary>What one retained value costs.</summary>
    public static long ValueCharge(StoredJson value) => value.ByteCount + RecordOverheadBytes;
}

/// <summary>
/// When a state entity takes a snapshot: every <see cref="EveryEvents"/> events or once
/// <see cref="EveryBytes"/> bytes of values were written since the last one, whichever comes first.
/// Recovery therefore reads one snapshot (at most the quota plus metadata) and replays at most that many
/// events or bytes, however long the entity has lived.
/// </summary>
/// <param name="EveryEvents">Events between snapshots.</param>
/// <param name="EveryBytes">Value bytes written between snapshots.</param>
public sealed record SnapshotCadence(int EveryEvents, long EveryBytes)
{
    /// <summary>1,000 events or 16 MiB.</summary>
    public static readonly SnapshotCadence Default = new(1000, 16 * StateAccounting.MiB);

    /// <summary>Whether a snapshot is due after <paramref name="eventsSince"/> events carrying <paramref name="bytesSince"/> bytes.</summary>
    public bool IsDue(int eventsSince, long bytesSince) => eventsSince >= EveryEvents || bytesSince >= EveryBytes;
}

/// <summary>A reply of a state entity: one of the output records of spec §8.15, or <see cref="StateRefused"/>.</summary>
public interface IStateReply : IKruxMessage;

/// <summary>The command or query was refused; nothing changed.</summary>
/// <param name="Error">Why (a <c>state</c> error of spec §16.2, or <c>InvalidInput</c>).</param>
[WireName("state.refused.v1")]
public sealed record StateRefused(StructuredError Error) : IStateReply;
