using System.Collections.Immutable;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;

namespace KruxOS.Actors.Policy;

/// <summary>What <c>kruxos config show policy</c> and <c>kruxos status</c> report about the policy in force.</summary>
/// <param name="Loaded">True once a policy set compiled; until then every call is refused (fail closed).</param>
/// <param name="Revision">The revision in force (content hash of the files), or <c>none</c> before the first good load.</param>
/// <param name="Template">The shipped template the org policy is or extends, if any.</param>
/// <param name="Source">The directory the files are read from.</param>
/// <param name="Files">The files of the set in force, relative to <paramref name="Source"/>.</param>
/// <param name="Errors">Why the newest edit was rejected (empty when the files on disk are the ones in force).</param>
/// <param name="RejectedRevision">The revision of the rejected files, when <paramref name="Errors"/> is not empty.</param>
/// <param name="Warnings">Warnings of the set in force.</param>
/// <param name="LoadedAt">When the set in force was swapped in.</param>
/// <param name="Generation">In a cluster, the cluster generation of the set in force (ADR 0059); null on a single node.</param>
public sealed record PolicyStatus(
    bool Loaded,
    string Revision,
    string? Template,
    string Source,
    ImmutableArray<string> Files,
    ImmutableArray<PolicyDiagnostic> Errors,
    string? RejectedRevision,
    ImmutableArray<PolicyDiagnostic> Warnings,
    DateTimeOffset? LoadedAt,
    long? Generation = null)
{
    /// <summary>One line for <c>kruxos status</c>: template (or <c>custom</c>/<c>defaults</c>) and revision.</summary>
    public string Summary =>
        !Loaded ? (Errors.IsEmpty ? "loading" : $"not loaded: {Errors.Length} error(s) in {Source}")
        : $"{Template ?? (Files.IsEmpty ? "defaults" : "custom")} (revision {Revision}{(Generation is { } g ? $", cluster generation {g}" : "")}{(Errors.IsEmpty ? "" : $", newest edit rejected: {Errors.Length} error(s)")})";
}

/// <summary>
/// The node's policy in force, as a thread-safe service: the <see cref="PolicyStoreActor"/> compiles the files
/// and swaps a new <see cref="PolicySet"/> in atomically; every decision reads the current one without locks.
/// Implements the pipeline's <see cref="IPolicySeam"/>. Until a set has compiled, decisions fail closed.
/// </summary>
public sealed class PolicyStore : IPolicySeam
{
    /// <summary>The rule reference of refusals made while no policy set is loaded.</summary>
    public const string NotLoadedRule = "system:policy_not_loaded";

    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Snapshot _current;
    private readonly object _historyGate = new();
    private ImmutableArray<KruxOS.Core.State.Briefings.PolicyRevisionRecord> _revisions = [];
    private IReadOnlyDictionary<string, string>? _fingerprints;

    /// <summary>A store with no set loaded yet, for the files in <paramref name="source"/>.</summary>
    public PolicyStore(CapabilityRegistry registry, string source)
    {
        Registry = registry ?? throw new ArgumentNullException(nameof(registry));
        _current = new Snapshot(PolicySet.Empty(registry),
            new PolicyStatus(false, "none", null, source, [], [], null, [], null));
    }

    /// <summary>A store with <paramref name="set"/> already in force (no files; for tests and tools).</summary>
    public PolicyStore(CapabilityRegistry registry, PolicySet set) : this(registry, "(in memory)")
    {
        ArgumentNullException.ThrowIfNull(set);
        Publish(set, [], DateTimeOffset.UnixEpoch);
    }

    /// <summary>The capabilities the sets are compiled against.</summary>
    public CapabilityRegistry Registry { get; }

    /// <summary>The set in force (<see cref="PolicySet.Empty"/> before the first good load).</summary>
    public PolicySet Current => _current.Set;

    /// <summary>The state for status output.</summary>
    public PolicyStatus Status => _current.Status;

    /// <summary>
    /// The revisions put in force on this node since it started, oldest first, with when and which layers changed (at most
    /// <see cref="KruxOS.Core.State.Briefings.BriefingFeedRules.MaxPolicyRevisions"/>; the first is the initial load).
    /// </summary>
    public ImmutableArray<KruxOS.Core.State.Briefings.PolicyRevisionRecord> Revisions
    {
        get { lock (_historyGate) return _revisions; }
    }

    /// <summary>Completes when the first policy set is in force.</summary>
    public Task Loaded => _loaded.Task;

    /// <inheritdoc />
    public event Action? Changed;

    /// <inheritdoc />
    public PolicyVerdict Decide(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now,
        RateState rateState, out RateState newRateState)
    {
        ArgumentNullException.ThrowIfNull(capability);
        var snapshot = _current;
        if (!snapshot.Status.Loaded)
        {
            newRateState = rateState;
            return new PolicyVerdict(Tier.Blocked, NotLoadedRule, "no policy set is loaded", snapshot.Status.Revision,
                Errors.ServiceUnavailable("policy", snapshot.Status.Errors.IsEmpty
                    ? "the policy files are still loading; retry in a moment"
                    : $"the policy files in {snapshot.Status.Source} have errors and no earlier set was loaded: {snapshot.Status.Errors[0]}"));
        }
        var (decision, rates) = PolicyEngine.Decide(principal, capability, arguments, snapshot.Set, rateState, now);
        newRateState = rates;
        var verdict = PolicyVerdict.From(decision, capability.Name);
        return snapshot.Status.Generation is { } generation ? verdict with { Generation = generation } : verdict;
    }

    /// <summary>
    /// The full decision for <c>kruxos config check-policy</c>, against an empty rate ledger (so it never
    /// reports a rate-limit escalation that depends on an agent's recent calls).
    /// </summary>
    public Decision Check(Principal principal, CapabilityDefinition capability, JsonElement arguments, DateTimeOffset now) =>
        PolicyEngine.Decide(principal, capability, arguments, _current.Set, RateState.Empty, now).Decision;

    /// <inheritdoc />
    public Tier VisibleTier(Principal principal, CapabilityDefinition capability) =>
        PolicyEngine.VisibleTier(principal, capability, _current.Set);

    /// <inheritdoc />
    public ImmutableArray<string> DecidedPathArguments(Principal principal, CapabilityDefinition capability) =>
        PolicyEngine.DecidedPathArguments(principal, capability, _current.Set);

    /// <inheritdoc />
    public StructuredError? DecideWalkEntry(Principal principal, CapabilityDefinition capability, JsonElement arguments, string argument, string path, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(capability);
        var snapshot = _current;
        if (!snapshot.Status.Loaded) return Errors.ServiceUnavailable("policy", "no policy set is loaded");
        return PolicyEngine.DecidedPathArguments(principal, capability, snapshot.Set).Contains(argument)
            ? WalkPolicy.Decide(principal, capability, arguments, argument, path, snapshot.Set, now)
            : null;
    }

    /// <inheritdoc />
    public GitRemoteAllowlist GitRemotes(Principal principal) =>
        _current.Status.Loaded ? _current.Set.GitRemotesFor(principal) : GitRemoteAllowlist.None;

    /// <inheritdoc />
    public KruxOS.Core.Network.EgressAllowlist Egress(Principal principal) =>
        _current.Status.Loaded ? _current.Set.NetworkFor(principal) : KruxOS.Core.Network.EgressAllowlist.None;

    /// <inheritdoc />
    public EffectivePolicy Effective(Principal principal, CapabilityRegistry registry) =>
        PolicyEngine.EffectiveRules(principal, _current.Set);

    /// <summary>
    /// Puts <paramref name="set"/> in force and clears any rejection. Raises <see cref="Changed"/> and returns
    /// true when the revision differs from the one in force (or nothing was loaded before).
    /// </summary>
    internal bool Publish(PolicySet set, ImmutableArray<string> files, DateTimeOffset at, long? generation = null,
        IReadOnlyDictionary<string, string>? fingerprints = null)
    {
        var previous = _current;
        var status = new PolicyStatus(true, set.Revision, TemplateOf(set), previous.Status.Source, files, [], null, set.Warnings, at, generation);
        var revised = !previous.Status.Loaded || previous.Set.Revision != set.Revision;
        var changed = revised || previous.Status.Generation != generation;
        // Recorded before the status shows the new revision, so whoever sees the revision also finds it in the history.
        if (revised) Record(set.Revision, at, fingerprints, initial: !previous.Status.Loaded);
        _current = new Snapshot(changed ? set : previous.Set, changed ? status : status with { LoadedAt = previous.Status.LoadedAt });
        _loaded.TrySetResult();
        if (changed) RaiseChanged();
        return changed;
    }

    /// <summary>
    /// Takes the set in force out (fail closed): every call is refused until a set is published again. A cluster node does
    /// this when it cannot put the cluster's newest generation in force, rather than keep deciding under an older one.
    /// </summary>
    internal void Unload(ImmutableArray<PolicyDiagnostic> errors, string rejectedRevision)
    {
        var previous = _current;
        _current = new Snapshot(PolicySet.Empty(Registry), previous.Status with
        {
            Loaded = false, Revision = "none", Errors = errors, RejectedRevision = rejectedRevision, Files = [], Generation = null,
        });
        RaiseChanged();
    }

    /// <summary>Records that the files on disk were rejected; the set in force stays.</summary>
    internal void Reject(ImmutableArray<PolicyDiagnostic> errors, string rejectedRevision)
    {
        var previous = _current;
        _current = previous with { Status = previous.Status with { Errors = errors, RejectedRevision = rejectedRevision } };
    }

    // Appends the revision with the layers whose files differ from the previous revision's (every layer present, initially).
    private void Record(string revision, DateTimeOffset at, IReadOnlyDictionary<string, string>? fingerprints, bool initial)
    {
        var now = fingerprints ?? new Dictionary<string, string>(StringComparer.Ordinal);
        lock (_historyGate)
        {
            var layers = KruxOS.Core.State.Briefings.BriefingFeedRules.ChangedLayers(
                initial ? new Dictionary<string, string>(StringComparer.Ordinal) : _fingerprints ?? new Dictionary<string, string>(StringComparer.Ordinal), now);
            _revisions = KruxOS.Core.State.Briefings.BriefingFeedRules.Append(_revisions,
                new KruxOS.Core.State.Briefings.PolicyRevisionRecord(revision, at, layers, initial), KruxOS.Core.State.Briefings.BriefingFeedRules.MaxPolicyRevisions);
            _fingerprints = now;
        }
    }

    private void RaiseChanged()
    {
        if (Changed is not { } handlers) return;
        foreach (var handler in handlers.GetInvocationList().Cast<Action>())
        {
            // One subscriber's failure (a closed connection) must not keep the others from hearing of the change.
            try { handler(); }
            catch (Exception) { /* subscribers log their own failures */ }
        }
    }

    private static string? TemplateOf(PolicySet set) =>
        set.Org is not { } org ? null
        : org.Extends is { } extends ? extends
        : org.Name is { } name && PolicyTemplates.Names.Contains(name) ? name
        : null;

    private sealed record Snapshot(PolicySet Set, PolicyStatus Status);
}
