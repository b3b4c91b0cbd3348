using System.Text.Json;
using KruxOS.Actors.State;
using KruxOS.Capabilities;
using KruxOS.Core.State;
using static KruxOS.Core.State.Shared.SharedStateCommands;
using static KruxOS.Core.State.Shared.SharedStateQueries;

namespace KruxOS.Actors.Capabilities.StateCategory;

/// <summary><c>state.shared.get</c>.</summary>
[Capability("state.shared.get")]
public sealed class StateSharedGetHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var key = StateCalls.Text(arguments, "key");
        if (StateKeys.Validate(key) is { } bad) throw new CapabilityException(bad);
        return StateCalls.Answer(await state.SharedAsync(new GetShared(key), cancellationToken).ConfigureAwait(false));
    }
}

/// <summary><c>state.shared.set</c>: optimistic write; the caller becomes <c>owner_agent</c>.</summary>
[Capability("state.shared.set")]
public sealed class StateSharedSetHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var key = StateCalls.Text(arguments, "key");
        if (StateKeys.Validate(key) is { } bad) throw new CapabilityException(bad);
        var command = new SetShared(key, StateCalls.Value(arguments, state.Settings.Shared.MaxValueBytes),
            StateCalls.OptionalInteger(arguments, "expected_version") ?? -1, context.Principal);
        return StateCalls.Answer(await state.SharedAsync(command, cancellationToken).ConfigureAwait(false));
    }
}

/// <summary><c>state.shared.delete</c>.</summary>
[Capability("state.shared.delete")]
public sealed class StateSharedDeleteHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var key = StateCalls.Text(arguments, "key");
        if (StateKeys.Validate(key) is { } bad) throw new CapabilityException(bad);
        return StateCalls.Answer(await state.SharedAsync(new DeleteShared(key, context.Principal), cancellationToken).ConfigureAwait(false));
    }
}

/// <summary><c>state.shared.list</c>: every partition's part, merged.</summary>
[Capability("state.shared.list")]
public sealed class StateSharedListHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.SharedListAsync(StateCalls.OptionalText(arguments, "prefix"), cancellationToken).ConfigureAwait(false));
}

/// <summary><c>state.shared.watch</c>: change events go to this agent's connected clients until this session ends.</summary>
[Capability("state.shared.watch")]
public sealed class StateSharedWatchHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.WatchAsync(new StateAreaMessages.WatchShared(context.Session.Agent, context.Session.SessionId,
            StateCalls.OptionalText(arguments, "prefix")), cancellationToken).ConfigureAwait(false));
}
