using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Session;
using KruxOS.Core.State.Shared;
using KruxOS.Core.State.Snapshots;

namespace KruxOS.Actors.State;

/// <summary>Agent state configuration (<c>KruxOS:State</c>); quotas in MiB as the spec's <c>*_mb</c> settings.</summary>
public sealed class StateSettings
{
    /// <summary><c>state.persistent.quota_mb</c>: per agent, every retained version counted. Default 100.</summary>
    public int PersistentQuotaMb { get; set; } = 100;

    /// <summary>Versions kept per persistent key. Default 100.</summary>
    public int PersistentMaxVersions { get; set; } = 100;

    /// <summary>Shared state in total. Default 500.</summary>
    public int SharedQuotaMb { get; set; } = 500;

    /// <summary>Per MCP session. Default 50.</summary>
    public int SessionQuotaMb { get; set; } = 50;

    /// <summary>How often a changed session state is checkpointed (spec §17: 30 s).</summary>
    public TimeSpan SessionCheckpointInterval { get; set; } = SessionStateLimits.CheckpointInterval;

    /// <summary>A state entity without messages for this long is stopped (persistent and session state recover from the journal / checkpoint).</summary>
    public TimeSpan EntityIdle { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How long a state call waits for its entity.</summary>
    public TimeSpan AskTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>Snapshot cadence of the persistent and shared entities (ADR 0035).</summary>
    public int SnapshotEveryEvents { get; set; } = SnapshotCadence.Default.EveryEvents;

    /// <summary>Snapshot cadence in value bytes written (ADR 0035), MiB.</summary>
    public int SnapshotEveryMb { get; set; } = 16;

    /// <summary>System snapshots kept (<c>state.snapshot.create</c> prunes the older ones; spec §18 row 29). Default 20.</summary>
    public int SnapshotRetention { get; set; } = SystemSnapshots.DefaultRetention;

    /// <summary>Backups kept in <c>{data_dir}/backups</c> (<c>state.backup.create</c> and the nightly backup prune the older ones). Default 30.</summary>
    public int BackupRetention { get; set; } = Core.State.Backups.BackupCatalog.DefaultRetention;

    /// <summary>The limits of persistent state.</summary>
    public PersistentStateLimits Persistent => (PersistentStateLimits.Default with
    {
        QuotaBytes = PersistentQuotaMb * StateAccounting.MiB,
        MaxVersions = PersistentMaxVersions,
    }).Validated();

    /// <summary>The limits of shared state.</summary>
    public SharedStateLimits Shared => (SharedStateLimits.Default with { QuotaBytes = SharedQuotaMb * StateAccounting.MiB }).Validated();

    /// <summary>The limits of session state.</summary>
    public SessionStateLimits Session
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegativeOrZero(SessionQuotaMb);
            return SessionStateLimits.Default with { QuotaBytes = SessionQuotaMb * StateAccounting.MiB };
        }
    }

    /// <summary>The snapshot cadence.</summary>
    public SnapshotCadence Cadence => new(Math.Max(1, SnapshotEveryEvents), Math.Max(1, SnapshotEveryMb) * StateAccounting.MiB);
}
