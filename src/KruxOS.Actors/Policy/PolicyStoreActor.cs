using System.Collections.Immutable;
using Akka.Actor;
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
/// </summary>
public sealed class PolicyStoreActor : ReceiveActor, IWithTimers
{
    private const string RescanTimer = "rescan";
    private const string SettleTimer = "settle";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly PolicyStore _store;
    private readonly string _directory;
    private readonly TimeSpan _rescanInterval;
    private readonly TimeSpan _settle;
    private readonly TimeProvider _clock;
    private FileSystemWatcher? _watcher;
    private string? _lastSeen;
    private bool _loading;
    private bool _again;
    private List<IActorRef> _answerAfterThisLoad = [];
    private List<IActorRef> _answerAfterNextLoad = [];

    public PolicyStoreActor(PolicyStore store, string directory, TimeSpan rescanInterval, TimeSpan settle, TimeProvider clock)
    {
        _store = store;
        _directory = directory;
        _rescanInterval = rescanInterval;
        _settle = settle;
        _clock = clock;

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
        Receive<LoadFailed>(m =>
        {
            _log.Warning(m.Cause, "Policy directory {0} could not be read; retrying at the next scan", _directory);
            Finished();
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="store">The node's store to publish into.</param>
    /// <param name="directory">The policy directory (<c>{DataDir}/policies</c>).</param>
    /// <param name="rescanInterval">How often to re-read as a fallback to notifications.</param>
    /// <param name="settle">How long after the last notification to read (editors write files in several steps).</param>
    /// <param name="clock">Time source for status timestamps.</param>
    public static Props Props(PolicyStore store, string directory, TimeSpan rescanInterval, TimeSpan settle, TimeProvider clock) =>
        Akka.Actor.Props.Create(() => new PolicyStoreActor(store, directory, rescanInterval, settle, clock));

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
        Self.Tell(Rescan.Instance);
        Timers.StartPeriodicTimer(RescanTimer, Rescan.Instance, _rescanInterval);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _watcher?.Dispose();
        _watcher = null;
    }

    private void Load()
    {
        if (_loading)
        {
            _again = true;
            return;
        }
        _loading = true;
        var directory = _directory;
        var lastSeen = _lastSeen;
        var registry = _store.Registry;
        Task.Run(() => Read(directory, lastSeen, registry))
            .PipeTo(Self, success: outcome => outcome, failure: e => new LoadFailed(e));
    }

    private static LoadOutcome Read(string directory, string? lastSeen, CapabilityRegistry registry)
    {
        var files = PolicyDirectory.Read(directory);
        var revision = PolicyCompiler.Revision(files);
        if (revision == lastSeen) return new LoadOutcome(revision, [.. files.Keys], null, null);
        // A fingerprint per file tells which layers a new revision changed (the briefing's policy updates).
        var fingerprints = files.ToImmutableSortedDictionary(f => f.Key,
            f => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(f.Value))), StringComparer.Ordinal);
        return new LoadOutcome(revision, [.. files.Keys], PolicyCompiler.Compile(files, registry), fingerprints);
    }

    private void Apply(LoadOutcome outcome)
    {
        _lastSeen = outcome.Revision;
        if (outcome.Result is { } result)
        {
            if (result.Set is { } set)
            {
                if (_store.Publish(set, outcome.Files, _clock.GetUtcNow(), outcome.Fingerprints))
                {
                    _log.Info("Policy revision {0} in force from {1}: {2}", set.Revision, _directory,
                        outcome.Files.IsEmpty ? "no files (system protections and definition tiers)" : string.Join(", ", outcome.Files));
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
        if (_again || _answerAfterThisLoad.Count > 0)
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

    private sealed record WatcherFailed(Exception Cause) : INoSerializationVerificationNeeded;

    private sealed record LoadOutcome(string Revision, ImmutableArray<string> Files, PolicyCompileResult? Result,
        ImmutableSortedDictionary<string, string>? Fingerprints) : INoSerializationVerificationNeeded;

    private sealed record LoadFailed(Exception Cause) : INoSerializationVerificationNeeded;
}
