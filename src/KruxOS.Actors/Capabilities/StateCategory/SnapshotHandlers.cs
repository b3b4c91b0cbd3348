using System.Text.Json;
using KruxOS.Actors.State;
using KruxOS.Capabilities;
using KruxOS.Core.State.Snapshots;

namespace KruxOS.Actors.Capabilities.StateCategory;

/// <summary><c>state.snapshot.create</c>: the whole system's state now, written to the node's snapshot store (old ones pruned).</summary>
[Capability("state.snapshot.create")]
public sealed class StateSnapshotCreateHandler(SnapshotStore store, SystemSnapshotSource source, TimeProvider clock) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        try
        {
            return StateCalls.Answer(await store.CreateAsync(ct => source.GatherAsync(context.Policy, ct), clock, cancellationToken).ConfigureAwait(false));
        }
        catch (SnapshotSourceException e)
        {
            throw new CapabilityException(e.Error);
        }
    }
}

/// <summary><c>state.snapshot.list</c>: the kept snapshots, newest first.</summary>
[Capability("state.snapshot.list")]
public sealed class StateSnapshotListHandler(SnapshotStore store) : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var (entries, error) = store.Entries();
        if (error is not null) throw new CapabilityException(error);
        return ValueTask.FromResult(StateCalls.Answer(SystemSnapshots.List(entries)));
    }
}

/// <summary><c>state.snapshot.load</c>: one kept snapshot's document (only an id that parses is ever turned into a file name).</summary>
[Capability("state.snapshot.load")]
public sealed class StateSnapshotLoadHandler(SnapshotStore store) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await store.LoadAsync(StateCalls.Text(arguments, "snapshot_id"), cancellationToken).ConfigureAwait(false));
}

/// <summary>
/// <c>state.briefing.generate</c>: the caller's deterministic digest since <c>since</c> (default: the end of its last session on
/// this node, else its creation), gathered from the owning services as the caller may see them (ADR 0057).
/// </summary>
[Capability("state.briefing.generate")]
public sealed class StateBriefingGenerateHandler(BriefingSource source, TimeProvider clock) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var since = StateCalls.OptionalText(arguments, "since");
        var detail = StateCalls.OptionalText(arguments, "detail_level");
        // Malformed arguments are refused before anything is gathered.
        if (since is not null && !KruxOS.Core.State.Briefings.Briefings.TryParseTimestamp(since, out _, out var why))
            throw new CapabilityException(KruxOS.Core.State.StateErrors.InvalidTimestamp("since", since, why));
        KruxOS.Core.State.Briefings.BriefingInputs inputs;
        try
        {
            inputs = await source.GatherAsync(context.Session.Agent, cancellationToken).ConfigureAwait(false);
        }
        catch (SnapshotSourceException e)
        {
            throw new CapabilityException(e.Error);
        }
        return StateCalls.Answer(KruxOS.Core.State.Briefings.Briefings.Generate(inputs, since, detail, clock.GetUtcNow()));
    }
}
