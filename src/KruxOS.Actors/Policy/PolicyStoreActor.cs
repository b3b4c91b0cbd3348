using System.Collections.Immutable;
using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Policy;

/// <summary>Requests to the node's <see cref="PolicyStoreActor"/>.</summary>
public static class PolicyStoreCommands
{
    /// <summary>
    /// Re-reads the policy directory now (e.g. after <c>kruxos config set policy</c> wrote a file) and replies
    /// with the <see cref="PolicyStatus"/> once a read that started after this request has been applied.
    /// </summary>
    public sealed class Reload : INoSerializationVerificationNeeded
    {
        /// <summary>The single instance.</summary>
        public static readonly Reload Instance = new();
        private Reload() { }
    }
}

/// <summary>
/// Keeps the node's <see cref="PolicyStore"/> in step with its policy directory. Reads and compiles off the
/// actor thread (PipeTo), one load at a time. A file-system watcher triggers a load shortly after a change
/// settles; a periodic re-scan is the fallback for missed notifications. A load whose content hash equals the
/// last one seen costs no compilation. A set that compiles is swapped in whole; one that does not is logged
/// with every error's file:line and the set in force stays.
/// <para>
/// In a cluster (a <c>ledger</c> is given, ADR 0059) the directory is this node's <em>mirror</em> of the cluster's one
/// policy revision: nothing is put in force before the ledger has answered; a local edit that compiles is proposed to the
/// ledger (compare-and-set on the generation in force) and is put in force only once the ledger accepted it; every
/// generation the ledger publishes is compiled, written into the directory (local files that differ are kept as
/// <c>*.bak-&lt;time&gt;</c>) and put in force — strictly in increasing generation. A generation this node cannot put in
/// force takes the set in force out (every call refused) instead of deciding under an older one.
/// </para>
/// </summary>
public sealed class PolicyStoreActor : ReceiveActor, IWithTimers
{
    private const string RescanTimer = "rescan";
    private const string SettleTimer = "settle";
    private const string SyncTimer = "ledger-sync";
    private const string ProposalTimer = "proposal";

    /// <summary>How often a cluster node asks the ledger for its revision (a missed publish is caught up within this).</summary>
    public static readonly TimeSpan LedgerSyncInterval = TimeSpan.FromSeconds(2);

    /// <summary>How long a proposal may wait for the ledger before the edit is read and proposed again.</summary>
    public static readonly TimeSpan ProposalTimeout = TimeSpan.FromSeconds(10);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly PolicyStore _store;
    private readonly string _directory;
    private readonly TimeSpan _rescanInterval;
    private readonly TimeSpan _settle;
    private readonly TimeProvider _clock;
    private readonly IActorRef? _ledger;
    private FileSystemWatcher? _watcher;
    private string? _lastSeen;
    private bool _loading;
    private bool _again;
    private List<IActorRef> _answerAfterThisLoad = [];
    private List<IActorRef> _answerAfterNextLoad = [];

    // Cluster mode only.
    private string _origin = "";
    private long _generation = -1;
    private string? _clusterRevision;
    private ClusterPolicyRevision? _pendingAdoption;
    private string? _proposing;
    private bool _diskInSync = true;
    private readonly List<IActorRef> _answerAfterProposal = [];

    public PolicyStoreActor(PolicyStore store, string directory, TimeSpan rescanInterval, TimeSpan settle, TimeProvider clock, IActorRef? ledger = null)
    {
        _store = store;
        _directory = directory;
        _rescanInterval = rescanInterval;
        _settle = settle;
        _clock = clock;
        _ledger = ledger;

        Receive<Rescan>(_ => Load());
        Receive<FilesTouched>(_ => Timers.StartSingleTimer(SettleTimer, Rescan.Instance, _settle));
        Receive<WatcherFailed>(m => _log.Warning(m.Cause, "Policy directory watcher failed; changes are picked up by the {0} re-scan", _rescanInterval));
        Receive<PolicyStoreCommands.Reload>(_ =>
        {
            if (_loading) _answerAfterNextLoad.Add(Sender);
            else _answerAfterThisLoad.Add(Sender);
            Load();
        });
        Receive<LoadOutcome>(Apply);
        Receive<AdoptOutcome>(Adopted);
        Receive<LoadFailed>(m =>
        {
            _log.Warning(m.Cause, "Policy directory {0} could not be read; retrying at the next scan", _directory);
            Finished();
        });
        Receive<ClusterPolicyRevision>(Offered);
        Receive<PolicyLedgerReplies.Accepted>(m => Offered(m.Current));
        Receive<PolicyLedgerReplies.Refused>(Refused);
        Receive<ProposalTimedOut>(m =>
        {
            if (_proposing != m.Revision) return;
            _log.Warning("The policy ledger did not answer the proposal of revision {0} within {1}; it is proposed again at the next scan", m.Revision, ProposalTimeout);
            _proposing = null;
            _lastSeen = null;
            AnswerProposalWaiters();
        });
        Receive<SyncLedger>(_ => _ledger?.Tell(PolicyLedgerCommands.GetCurrent.Instance));
        Receive<SubscribeAck>(_ => { });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="store">The node's store to publish into.</param>
    /// <param name="directory">The policy directory (<c>{DataDir}/policies</c>).</param>
    /// <param name="rescanInterval">How often to re-read as a fallback to notifications.</param>
    /// <param name="settle">How long after the last notification to read (editors write files in several steps).</param>
    /// <param name="clock">Time source for status timestamps.</param>
    /// <param name="ledger">In a cluster, the policy ledger (<see cref="PolicyLedgerActor"/>); null on a single node.</param>
    public static Props Props(PolicyStore store, string directory, TimeSpan rescanInterval, TimeSpan settle, TimeProvider clock, IActorRef? ledger = null) =>
        Akka.Actor.Props.Create(() => new PolicyStoreActor(store, directory, rescanInterval, settle, clock, ledger));

    /// <inheritdoc />
    protected override void PreStart()
    {
        try
        {
            foreach (var dir in new[] { _directory, Path.Combine(_directory, PolicyDirectory.AgentsFolder) })
                if (!Directory.Exists(dir)) KruxOS.Sandbox.PrivateFiles.CreateDirectory(dir);
            var self = Self;
            var watcher = new FileSystemWatcher(_directory)
            {
                IncludeSubdirectories = true,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size,
            };
            FileSystemEventHandler touched = (_, _) => self.Tell(FilesTouched.Instance);
            watcher.Changed += touched;
            watcher.Created += touched;
            watcher.Deleted += touched;
            watcher.Renamed += (_, _) => self.Tell(FilesTouched.Instance);
            watcher.Error += (_, e) => self.Tell(new WatcherFailed(e.GetException()));
            watcher.EnableRaisingEvents = true;
            _watcher = watcher;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or PlatformNotSupportedException)
        {
            _log.Warning(e, "Policy directory {0} cannot be watched; changes are picked up by the {1} re-scan", _directory, _rescanInterval);
        }
        if (_ledger is not null)
        {
            _origin = Akka.Cluster.Cluster.Get(Context.System).SelfAddress.ToString();
            DistributedPubSub.Get(Context.System).Mediator.Tell(new Subscribe(PolicyLedgerActor.Topic, Self));
            _ledger.Tell(PolicyLedgerCommands.GetCurrent.Instance);
            Timers.StartPeriodicTimer(SyncTimer, SyncLedger.Instance, LedgerSyncInterval);
        }
        else Self.Tell(Rescan.Instance);
        Timers.StartPeriodicTimer(RescanTimer, Rescan.Instance, _rescanInterval);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _watcher?.Dispose();
        _watcher = null;
    }

    private bool Clustered => _ledger is not null;

    private void Load()
    {
        if (_loading)
        {
            _again = true;
            return;
        }
        if (Clustered && _generation < 0 && _pendingAdoption is null)
        {
            // Nothing is read or put in force before the cluster's revision is known; whoever waits hears "not loaded".
            AnswerLoadWaiters();
            return;
        }
        _loading = true;
        var directory = _directory;
        if (_pendingAdoption is { } adopt)
        {
            _pendingAdoption = null;
            var registry = _store.Registry;
            var now = _clock.GetUtcNow();
            Task.Run(() => Adopt(directory, adopt, registry, now))
                .PipeTo(Self, success: outcome => outcome, failure: e => new AdoptOutcome(adopt, null, [], e.Message, false));
            return;
        }
        var lastSeen = _lastSeen;
        var reg = _store.Registry;
        Task.Run(() => Read(directory, lastSeen, reg))
            .PipeTo(Self, success: outcome => outcome, failure: e => new LoadFailed(e));
    }

    private static LoadOutcome Read(string directory, string? lastSeen, CapabilityRegistry registry)
    {
        var files = PolicyDirectory.Read(directory);
        var revision = PolicyCompiler.Revision(files);
        return revision == lastSeen
            ? new LoadOutcome(revision, files, null)
            : new LoadOutcome(revision, files, PolicyCompiler.Compile(files, registry));
    }

    // Compiles a cluster revision and mirrors it into the directory. Blocking I/O: runs off the actor thread.
    private static AdoptOutcome Adopt(string directory, ClusterPolicyRevision revision, CapabilityRegistry registry, DateTimeOffset now)
    {
        if (PolicyLedger.FilesError(revision.Files) is { } bad) return new AdoptOutcome(revision, null, [], bad, false);
        if (PolicyCompiler.Revision(revision.Files) != revision.Revision)
            return new AdoptOutcome(revision, null, [], $"the files do not hash to revision {revision.Revision}", false);
        var result = PolicyCompiler.Compile(revision.Files, registry);
        if (result.Set is null)
            return new AdoptOutcome(revision, result, [], $"it does not compile on this node: {string.Join("; ", result.Errors)}", false);
        try
        {
            return new AdoptOutcome(revision, result, Mirror(directory, revision, now), null, true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new AdoptOutcome(revision, result, [], null, false, e.Message);
        }
    }

    /// <summary>
    /// Makes <paramref name="directory"/> hold exactly <paramref name="revision"/>'s files: each differing or extra local file
    /// is first copied to <c>&lt;name&gt;.bak-&lt;UTC time&gt;</c> (a name the loader ignores). Returns the backups made.
    /// Only the paths <see cref="PolicyLedger.IsMirrorablePath"/> accepts are ever written (checked by the caller).
    /// </summary>
    internal static ImmutableArray<string> Mirror(string directory, ClusterPolicyRevision revision, DateTimeOffset now)
    {
        var local = PolicyDirectory.Read(directory);
        var stamp = now.ToString("yyyyMMdd'T'HHmmss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        var backups = ImmutableArray.CreateBuilder<string>();
        foreach (var (path, text) in revision.Files)
        {
            if (!PolicyLedger.IsMirrorablePath(path)) throw new IOException($"refused to write '{path}'");
            if (local.TryGetValue(path, out var mine) && mine == text) continue;
            var target = Path.Combine(directory, path);
            if (local.ContainsKey(path)) backups.Add(Backup(target, stamp));
            PolicyDirectory.WriteAtomically(target, text);
        }
        foreach (var path in local.Keys)
        {
            if (revision.Files.ContainsKey(path)) continue;
            var target = Path.Combine(directory, path);
            // The reader lists misplaced .yaml names too; only a policy location is ours to move.
            if (!PolicyLedger.IsMirrorablePath(path) || !File.Exists(target)) continue;
            var backup = $"{target}.bak-{stamp}";
            File.Move(target, backup, overwrite: true);
            backups.Add(backup);
        }
        return backups.ToImmutable();
    }

    // A fingerprint per file tells which layers a new revision changed (the briefing's policy updates).
    private static ImmutableSortedDictionary<string, string> Fingerprints(IReadOnlyDictionary<string, string> files) =>
        files.ToImmutableSortedDictionary(f => f.Key,
            f => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(f.Value))), StringComparer.Ordinal);

    private static string Backup(string target, string stamp)
    {
        var backup = $"{target}.bak-{stamp}";
        File.Copy(target, backup, overwrite: true);
        return backup;
    }

    private void Apply(LoadOutcome outcome)
    {
        _lastSeen = outcome.Revision;
        if (outcome.Result is { } result)
        {
            if (result.Set is { } set)
            {
                if (Clustered) Propose(outcome, set);
                else if (_store.Publish(set, [.. outcome.Files.Keys], _clock.GetUtcNow(), fingerprints: Fingerprints(outcome.Files)))
                {
                    _log.Info("Policy revision {0} in force from {1}: {2}", set.Revision, _directory,
                        outcome.Files.IsEmpty ? "no files (system protections and definition tiers)" : string.Join(", ", outcome.Files.Keys));
                    if (!result.Warnings.IsEmpty)
                        _log.Warning("Policy revision {0} has {1} warning(s):\n  {2}", set.Revision, result.Warnings.Length, string.Join("\n  ", result.Warnings));
                }
            }
            else
            {
                _store.Reject(result.Errors, outcome.Revision);
                var inForce = _store.Status.Loaded ? $"revision {_store.Status.Revision} stays in force" : "no policy set is in force, so every call is refused";
                _log.Error("Policy files in {0} rejected ({1}):\n  {2}", _directory, inForce, string.Join("\n  ", result.Errors));
            }
        }
        Finished();
    }

    // A local read that compiled, in a cluster: in step with the cluster, already proposed, or a new edit to propose.
    private void Propose(LoadOutcome outcome, PolicySet set)
    {
        if (outcome.Revision == _clusterRevision)
        {
            _diskInSync = true;
            if (!_store.Status.Errors.IsEmpty) _store.Publish(_store.Current, [.. outcome.Files.Keys], _clock.GetUtcNow(), _generation);
            return;
        }
        if (outcome.Revision == _proposing) return;
        if (!_diskInSync)
        {
            _log.Warning("Policy files in {0} (revision {1}) differ from cluster revision {2}, which could not be written there; not proposing them",
                _directory, outcome.Revision, _clusterRevision ?? "none");
            return;
        }
        _proposing = set.Revision;
        _answerAfterProposal.AddRange(_answerAfterThisLoad);
        _answerAfterThisLoad.Clear();
        _log.Info("Proposing policy revision {0} from {1} to the cluster (on generation {2})", set.Revision, _directory, _generation);
        _ledger!.Tell(new PolicyLedgerCommands.Propose(_generation, outcome.Files, _origin));
        Timers.StartSingleTimer(ProposalTimer, new ProposalTimedOut(set.Revision), ProposalTimeout);
    }

    // A cluster revision: from the ledger's publish, its answer to a sync or to this node's proposal.
    private void Offered(ClusterPolicyRevision revision)
    {
        if (_generation < 0 && revision.Generation == 0)
        {
            // An empty ledger: this node's files may become generation 1.
            _generation = 0;
            Load();
            return;
        }
        if (!PolicyLedger.Supersedes(revision, Math.Max(_generation, _pendingAdoption?.Generation ?? -1))) return;
        _pendingAdoption = revision;
        Load();
    }

    private void Refused(PolicyLedgerReplies.Refused refused)
    {
        _log.Warning("The cluster refused this node's policy revision {0}: {1}", _proposing ?? "?", refused.Reason);
        if (!refused.Stale && _proposing is { } revision)
            _store.Reject([new PolicyDiagnostic(DiagnosticSeverity.Error, DiagnosticCodes.InvalidValue, new SourceLocation(_directory, 1),
                $"the cluster refused this revision: {refused.Reason}")], revision);
        _proposing = null;
        Timers.Cancel(ProposalTimer);
        if (refused.Stale) Offered(refused.Current);
        AnswerProposalWaiters();
    }

    private void Adopted(AdoptOutcome outcome)
    {
        var revision = outcome.Revision;
        if (revision.Generation > _generation)
        {
            _generation = revision.Generation;
            _clusterRevision = revision.Revision;
            if (outcome.Error is { } error || outcome.Result?.Set is not { } set)
            {
                // Never keep deciding under an older generation than one seen: fail closed until a newer one works.
                var why = outcome.Error ?? "it does not compile";
                _store.Unload([new PolicyDiagnostic(DiagnosticSeverity.Error, DiagnosticCodes.InvalidValue, new SourceLocation("cluster", 1),
                    $"cluster policy generation {revision.Generation} (revision {revision.Revision}) cannot be put in force: {why}")], revision.Revision);
                _log.Error("Cluster policy generation {0} (revision {1}) cannot be put in force on this node ({2}); every call is refused until a newer one can",
                    revision.Generation, revision.Revision, why);
            }
            else
            {
                _store.Publish(set, [.. revision.Files.Keys], _clock.GetUtcNow(), revision.Generation, Fingerprints(revision.Files));
                _log.Info("Cluster policy generation {0} (revision {1}, from {2}) in force", revision.Generation, revision.Revision, revision.Origin);
                if (!outcome.Backups.IsEmpty)
                    _log.Warning("Local policy files replaced by cluster generation {0} were kept as: {1}", revision.Generation, string.Join(", ", outcome.Backups));
                if (outcome.MirrorError is { } mirror)
                    _log.Error("Cluster policy generation {0} is in force but could not be written to {1} ({2}); local edits are not proposed until it is",
                        revision.Generation, _directory, mirror);
                _diskInSync = outcome.Mirrored;
                if (outcome.Mirrored) _lastSeen = revision.Revision;
            }
            if (_proposing is not null)
            {
                if (_proposing == revision.Revision) Timers.Cancel(ProposalTimer);
                _proposing = _proposing == revision.Revision ? null : _proposing;
            }
            if (_proposing is null) AnswerProposalWaiters();
        }
        Finished();
    }

    private void AnswerProposalWaiters()
    {
        if (_answerAfterProposal.Count == 0) return;
        var status = _store.Status;
        foreach (var requester in _answerAfterProposal) requester.Tell(status);
        _answerAfterProposal.Clear();
    }

    private void AnswerLoadWaiters()
    {
        var status = _store.Status;
        foreach (var requester in _answerAfterThisLoad.Concat(_answerAfterNextLoad)) requester.Tell(status);
        _answerAfterThisLoad.Clear();
        _answerAfterNextLoad.Clear();
    }

    private void Finished()
    {
        _loading = false;
        if (_answerAfterThisLoad.Count > 0)
        {
            var status = _store.Status;
            foreach (var requester in _answerAfterThisLoad) requester.Tell(status);
            _answerAfterThisLoad.Clear();
        }
        (_answerAfterThisLoad, _answerAfterNextLoad) = (_answerAfterNextLoad, _answerAfterThisLoad);
        if (_again || _answerAfterThisLoad.Count > 0 || _pendingAdoption is not null)
        {
            _again = false;
            Load();
        }
    }

    private sealed class Rescan : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly Rescan Instance = new();
        private Rescan() { }
    }

    private sealed class FilesTouched : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly FilesTouched Instance = new();
        private FilesTouched() { }
    }

    private sealed class SyncLedger : INoSerializationVerificationNeeded, IDeadLetterSuppression
    {
        public static readonly SyncLedger Instance = new();
        private SyncLedger() { }
    }

    private sealed record ProposalTimedOut(string Revision) : INoSerializationVerificationNeeded;

    private sealed record WatcherFailed(Exception Cause) : INoSerializationVerificationNeeded;

    private sealed record LoadOutcome(string Revision, ImmutableSortedDictionary<string, string> Files, PolicyCompileResult? Result) : INoSerializationVerificationNeeded;

    private sealed record AdoptOutcome(ClusterPolicyRevision Revision, PolicyCompileResult? Result, ImmutableArray<string> Backups, string? Error, bool Mirrored,
        string? MirrorError = null) : INoSerializationVerificationNeeded;

    private sealed record LoadFailed(Exception Cause) : INoSerializationVerificationNeeded;
}
