using KruxOS.Core.State;

namespace KruxOS.Actors.State;

/// <summary>
/// When a state entity snapshots, and what it may then delete: a snapshot is due after the cadence's events or bytes
/// since the last one, one at a time; once it is saved, the journal up to the previous snapshot and the snapshots before
/// that go — the previous snapshot and what follows it stay as a spare for a damaged latest one.
/// </summary>
internal sealed class SnapshotSchedule(SnapshotCadence cadence)
{
    private int _eventsSince;
    private long _bytesSince;
    private long _lastSnapshotSeq;
    private bool _saving;

    /// <summary>Recovery offered the snapshot at <paramref name="sequenceNr"/>.</summary>
    public void Recovered(long sequenceNr) => _lastSnapshotSeq = sequenceNr;

    /// <summary>An event of <paramref name="bytes"/> replay bytes was applied.</summary>
    public void Count(long bytes)
    {
        _eventsSince++;
        _bytesSince += bytes;
    }

    /// <summary>True when a snapshot is due and none is being saved; the caller then saves one.</summary>
    public bool TryStart()
    {
        if (_saving || !cadence.IsDue(_eventsSince, _bytesSince)) return false;
        _saving = true;
        return true;
    }

    /// <summary>The snapshot could not be saved; the journal still holds every event.</summary>
    public void Failed() => _saving = false;

    /// <summary>
    /// The snapshot at <paramref name="savedSequenceNr"/> is saved (<paramref name="lastSequenceNr"/>: the entity's
    /// latest). Returns the previous snapshot's sequence number — delete the journal up to it and the snapshots before
    /// it — or 0 when there is none.
    /// </summary>
    public long Saved(long lastSequenceNr, long savedSequenceNr)
    {
        _saving = false;
        _eventsSince = (int)Math.Max(0, lastSequenceNr - savedSequenceNr);
        _bytesSince = 0;
        var previous = _lastSnapshotSeq;
        _lastSnapshotSeq = savedSequenceNr;
        return Math.Max(0, previous);
    }
}
