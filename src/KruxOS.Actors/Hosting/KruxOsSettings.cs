namespace KruxOS.Actors.Hosting;

/// <summary>Which journal the persistent actors use.</summary>
public enum PersistenceProvider
{
    /// <summary>Embedded SQLite in the data directory (WAL mode). The single-node default.</summary>
    Sqlite,
    /// <summary>A shared PostgreSQL database, for a multi-node cluster.</summary>
    PostgreSql,
}

/// <summary>Cluster membership settings (used only when <see cref="KruxOsSettings.UseClustering"/> is on; docs/cluster.md).</summary>
public sealed class ClusterNodeSettings
{
    /// <summary>Address other nodes reach this node on (never a wildcard). <b>Default</b>: 127.0.0.1.</summary>
    public string Hostname { get; set; } = "127.0.0.1";

    /// <summary>Remoting port, fixed (the other nodes' seed lists name it). <b>Default</b>: 7710.</summary>
    public int Port { get; set; } = 7710;

    /// <summary>
    /// Nodes to join through, <c>host:port</c> (or <c>akka.tcp://kruxos@host:port</c>); list every node of the cluster, this
    /// one included or not. <b>Default</b>: none (the node forms a cluster only when no other cluster holds the journal).
    /// </summary>
    public List<string> SeedNodes { get; set; } = [];

    /// <summary>How long a starting node tries its seed nodes before it may form a new cluster (if the journal's lease is free). <b>Default</b>: 5 s.</summary>
    public TimeSpan SeedNodeWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a starting node may take to become a member before it stops with an error. <b>Default</b>: 60 s.</summary>
    public TimeSpan FormationTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The journal's cluster lease time; the oldest member renews it every third of it (ADR 0047). <b>Default</b>: 15 s.</summary>
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Split-brain resolver strategy: <c>keep-majority</c> or <c>keep-oldest</c>. <b>Default</b>: keep-majority.</summary>
    public string SplitBrainStrategy { get; set; } = "keep-majority";

    /// <summary>How long membership must be stable (no new unreachability) before the resolver downs the unreachable side. <b>Default</b>: 20 s.</summary>
    public TimeSpan DowningStableAfter { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>The split-brain strategies accepted.</summary>
    public static readonly IReadOnlyList<string> SplitBrainStrategies = ["keep-majority", "keep-oldest"];
}

/// <summary>Journal settings.</summary>
public sealed class PersistenceSettings
{
    /// <summary><b>Default</b>: <see cref="PersistenceProvider.Sqlite"/>.</summary>
    public PersistenceProvider Provider { get; set; } = PersistenceProvider.Sqlite;

    /// <summary>Connection string; for SQLite it defaults to <c>{DataDir}/kruxos.db</c>. Required for PostgreSQL.</summary>
    public string? ConnectionString { get; set; }
}

/// <summary>Audit log settings (<c>KruxOS:Audit:…</c>; see <c>docs/audit-format.md</c>).</summary>
public sealed class AuditSettings
{
    /// <summary>
    /// What happens when the audit log cannot be written (<c>audit.fail_mode</c>): <c>Degrade</c> keeps
    /// serving and holds entries in memory, <c>Halt</c> fails every call. <b>Default</b>: <c>Degrade</c>.
    /// </summary>
    public Audit.AuditFailMode FailMode { get; set; } = Audit.AuditFailMode.Degrade;

    /// <summary>Entries the in-memory ring may hold while the disk fails. <b>Default</b>: 10,000.</summary>
    public int RingCapacity { get; set; } = 10_000;

    /// <summary>How often a failed audit disk is retried. <b>Default</b>: 30 s.</summary>
    public TimeSpan RetryInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Days of audit day files kept (<c>audit.retention_days</c>). <b>Default</b>: 90.</summary>
    public int RetentionDays { get; set; } = KruxOS.Audit.AuditRetention.DefaultRetentionDays;

    /// <summary>Wait before the audit writer opens the log again after a failure; doubles with each failure in a row. <b>Default</b>: 500 ms.</summary>
    public TimeSpan RestartBackoffMin { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>Longest wait before the audit writer opens the log again after a failure. <b>Default</b>: 30 s.</summary>
    public TimeSpan RestartBackoffMax { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>Idempotency keys of re-sent calls (<c>KruxOS:Idempotency:…</c>; ADR 0010).</summary>
public sealed class IdempotencySettings
{
    /// <summary>How long an agent's keys are kept, counted from first use; at least the approval hold timeout. <b>Default</b>: 86400 s.</summary>
    public int WindowSeconds { get; set; } = 86400;

    /// <summary>Most keys kept per agent; the oldest answered keys make room first. <b>Default</b>: 1000.</summary>
    public int MaxKeysPerAgent { get; set; } = 1000;

    /// <summary>Largest result (data or error JSON) recorded for a replay; larger ones replay as <c>OutcomeNotRetained</c>. <b>Default</b>: 1 MiB.</summary>
    public int MaxRecordedResultBytes { get; set; } = 1024 * 1024;

    /// <summary>The limits the ledger works with.</summary>
    public KruxOS.Core.Sessions.IdempotencyLimits Limits => new(TimeSpan.FromSeconds(WindowSeconds), MaxKeysPerAgent, MaxRecordedResultBytes);
}

/// <summary>
/// The actor layer's settings, bound from the <c>KruxOS</c> configuration section
/// (appsettings, <c>KRUXOS_…</c> environment variables, command-line flags).
/// </summary>
public sealed class KruxOsSettings
{
    /// <summary>The ActorSystem name; every node of a cluster must use the same one.</summary>
    public const string ActorSystemName = "kruxos";

    /// <summary>Data directory (identities journal, audit, policies, workspaces). <b>Default</b>: <c>~/.kruxos</c>.</summary>
    public string DataDir { get; set; } = DefaultDataDir();

    /// <summary>Run as a cluster node with sharded agent sessions. <b>Default</b>: false (single node).</summary>
    public bool UseClustering { get; set; }

    /// <summary>Cluster settings.</summary>
    public ClusterNodeSettings Cluster { get; set; } = new();

    /// <summary>Journal settings.</summary>
    public PersistenceSettings Persistence { get; set; } = new();

    /// <summary>Longest an in-process capability may run. <b>Default</b>: 30 s.</summary>
    public TimeSpan ToolCallTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Concurrent connections one agent may hold (ADR 0003). <b>Default</b>: 16.</summary>
    public int MaxConnectionsPerAgent { get; set; } = 16;

    /// <summary>
    /// An agent session with no connection and no call in flight is passivated after this long, once no
    /// rate-limit window it counts is still live (it holds the agent's counters). <b>Default</b>: 10 min.
    /// </summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often host metrics are sampled. <b>Default</b>: 5 s.</summary>
    public TimeSpan MetricsInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long a call needing approval is held before it times out (<c>approval.hold_timeout_seconds</c>). <b>Default</b>: 86400 s.</summary>
    public TimeSpan ApprovalHoldTimeout { get; set; } = TimeSpan.FromSeconds(86400);

    /// <summary>How long an approval decided while nobody waits stays usable by the identical retry. <b>Default</b>: 10 min.</summary>
    public TimeSpan ApprovalGrantWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>How often MCP progress notifications are sent while a call with a progress token is held. <b>Default</b>: 15 s.</summary>
    public TimeSpan ApprovalProgressInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Audit log settings.</summary>
    public AuditSettings Audit { get; set; } = new();

    /// <summary>Idempotency key settings.</summary>
    public IdempotencySettings Idempotency { get; set; } = new();

    /// <summary>Agent state: quotas, checkpoint interval, snapshot cadence.</summary>
    public State.StateSettings State { get; set; } = new();

    /// <summary>Comms inbox limits and the queue-depth recount (<c>KruxOS:Comms</c>).</summary>
    public Comms.CommsSettings Comms { get; set; } = new();

    /// <summary>The scheduler's check and wake intervals (<c>KruxOS:Scheduler</c>).</summary>
    public Scheduling.SchedulerSettings Scheduler { get; set; } = new();

    /// <summary>The Service Proxy (<c>KruxOS:Proxy</c>): backoff between failed writes, adapter call and sync timeouts.</summary>
    public Proxy.ProxySettings Proxy { get; set; } = new();

    /// <summary>The Slack adapter (<c>KruxOS:Slack</c>): base URL, windows, sync interval and limits.</summary>
    public KruxOS.Proxy.Slack.SlackOptions Slack { get; set; } = new();
    /// <summary>The Gmail adapter (<c>KruxOS:Gmail</c>): base URLs, client id, sync interval, windows (docs/service-proxy.md).</summary>
    public KruxOS.Proxy.Gmail.GmailOptions Gmail { get; set; } = new();

    /// <summary>The audit directory: <c>{DataDir}/audit</c>.</summary>
    public string AuditDirectory => Path.Combine(DataDir, "audit");

    /// <summary>
    /// How often the policy directory is re-read as a fallback to file-system notifications (a read whose
    /// content hash is unchanged costs no compilation). <b>Default</b>: 2 s.
    /// </summary>
    public TimeSpan PolicyRescanInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Kernel sandbox settings (section <c>KruxOS:Sandbox</c>): limits, per-agent overrides, paths.
    /// Its data directory is always <see cref="DataDir"/>. <b>Default</b>: confined, 512 MiB / 0.5 core / 100 pids.
    /// </summary>
    public KruxOS.Sandbox.SandboxOptions Sandbox { get; set; } = new();

    /// <summary>The policy files of this node: <c>system.yaml</c>, <c>org.yaml</c>, <c>user.yaml</c>, <c>agents/&lt;name&gt;.yaml</c>.</summary>
    public string PoliciesDir => Path.Combine(DataDir, "policies");

    /// <summary>The SQLite journal file.</summary>
    public string SqlitePath => Path.Combine(DataDir, "kruxos.db");

    /// <summary>The effective journal connection string.</summary>
    public string JournalConnectionString => Persistence.ConnectionString
        ?? (Persistence.Provider == PersistenceProvider.Sqlite
            ? $"Data Source={SqlitePath};Pooling=True"
            : throw new InvalidOperationException("KruxOS:Persistence:ConnectionString is required for PostgreSQL"));

    /// <summary>Fails fast on settings that cannot work.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDir)) throw new ArgumentException("KruxOS:DataDir must be set");
        if (MaxConnectionsPerAgent < 1) throw new ArgumentException("KruxOS:MaxConnectionsPerAgent must be at least 1");
        if (ToolCallTimeout <= TimeSpan.Zero) throw new ArgumentException("KruxOS:ToolCallTimeout must be positive");
        if (ApprovalHoldTimeout <= TimeSpan.Zero) throw new ArgumentException("KruxOS:ApprovalHoldTimeout must be positive");
        if (ApprovalGrantWindow <= TimeSpan.Zero) throw new ArgumentException("KruxOS:ApprovalGrantWindow must be positive");
        if (ApprovalProgressInterval <= TimeSpan.Zero) throw new ArgumentException("KruxOS:ApprovalProgressInterval must be positive");
        if (PolicyRescanInterval <= TimeSpan.Zero) throw new ArgumentException("KruxOS:PolicyRescanInterval must be positive");
        if (ClusterSettingsError() is { } cluster) throw new ArgumentException(cluster);
        if (Audit.RingCapacity < 1) throw new ArgumentException("KruxOS:Audit:RingCapacity must be at least 1");
        if (Audit.RetryInterval <= TimeSpan.Zero) throw new ArgumentException("KruxOS:Audit:RetryInterval must be positive");
        if (Audit.RestartBackoffMin <= TimeSpan.Zero) throw new ArgumentException("KruxOS:Audit:RestartBackoffMin must be positive");
        if (Audit.RestartBackoffMax < Audit.RestartBackoffMin) throw new ArgumentException("KruxOS:Audit:RestartBackoffMax must not be below RestartBackoffMin");
        if (Audit.RetentionDays < 1) throw new ArgumentException("KruxOS:Audit:RetentionDays must be at least 1");
        if (TimeSpan.FromSeconds(Idempotency.WindowSeconds) < ApprovalHoldTimeout)
            throw new ArgumentException("KruxOS:Idempotency:WindowSeconds must be at least the approval hold timeout, so a held call's key outlives the hold");
        if (Idempotency.MaxKeysPerAgent < 1) throw new ArgumentException("KruxOS:Idempotency:MaxKeysPerAgent must be at least 1");
        if (Idempotency.MaxRecordedResultBytes < 0) throw new ArgumentException("KruxOS:Idempotency:MaxRecordedResultBytes must not be negative");
        if (Persistence.Provider == PersistenceProvider.PostgreSql && string.IsNullOrWhiteSpace(Persistence.ConnectionString))
            throw new ArgumentException("KruxOS:Persistence:ConnectionString is required for PostgreSQL");
    }

    /// <summary>The first cluster setting that cannot work (missing, malformed or conflicting), as one sentence; null when none.</summary>
    public string? ClusterSettingsError()
    {
        if (!UseClustering)
            return Cluster.SeedNodes.Count > 0 ? "seed nodes (--seed-nodes, KruxOS:Cluster:SeedNodes) are set but clustering is off; add --cluster" : null;
        if (Core.Cluster.ClusterAddresses.HostError(Cluster.Hostname) is { } host) return $"KruxOS:Cluster:Hostname (--cluster-host): {host}";
        if (Cluster.Port is < 1 or > 65535) return "KruxOS:Cluster:Port (--cluster-port) must be a fixed port from 1 to 65535";
        var (_, seedError) = Core.Cluster.ClusterAddresses.ParseSeeds(Cluster.SeedNodes, ActorSystemName);
        if (seedError is not null) return $"KruxOS:Cluster:SeedNodes (--seed-nodes): {seedError}";
        if (!ClusterNodeSettings.SplitBrainStrategies.Contains(Cluster.SplitBrainStrategy))
            return $"KruxOS:Cluster:SplitBrainStrategy must be one of {string.Join(", ", ClusterNodeSettings.SplitBrainStrategies)}";
        if (Cluster.LeaseTtl < TimeSpan.FromSeconds(3)) return "KruxOS:Cluster:LeaseTtl must be at least 3 s";
        if (Cluster.SeedNodeWait < TimeSpan.Zero) return "KruxOS:Cluster:SeedNodeWait must not be negative";
        if (Cluster.FormationTimeout <= Cluster.SeedNodeWait) return "KruxOS:Cluster:FormationTimeout must be longer than SeedNodeWait";
        if (Cluster.DowningStableAfter < TimeSpan.FromSeconds(1)) return "KruxOS:Cluster:DowningStableAfter must be at least 1 s";
        if (Persistence.Provider == PersistenceProvider.PostgreSql && string.IsNullOrWhiteSpace(Persistence.ConnectionString))
            return "a cluster needs its shared journal: set KruxOS:Persistence:ConnectionString (KRUXOS_JOURNAL_CONNECTION) to the PostgreSQL database";
        if (Persistence.Provider == PersistenceProvider.Sqlite && Persistence.ConnectionString is null && Cluster.SeedNodes.Count > 0)
            return "a cluster needs one shared journal: set KruxOS:Persistence:Provider to PostgreSql (--journal-provider postgresql) and its connection string";
        return null;
    }

    private static string DefaultDataDir() =>
        Environment.GetEnvironmentVariable("KRUXOS_DATA_DIR") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kruxos");
}
