using System.Text.Json;
using KruxOS.Actors.State;
using KruxOS.Capabilities;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateQueries;

namespace KruxOS.Actors.Capabilities.StateCategory;

/// <summary><c>state.persistent.get</c>.</summary>
[Capability("state.persistent.get")]
public sealed class StatePersistentGetHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.PersistentAsync(new GetValue(context.Session.Agent, StateCalls.Text(arguments, "key"),
            StateCalls.OptionalInteger(arguments, "version")), cancellationToken).ConfigureAwait(false));
}

/// <summary><c>state.persistent.set</c>.</summary>
[Capability("state.persistent.set")]
public sealed class StatePersistentSetHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.PersistentAsync(new SetValue(context.Session.Agent, StateCalls.Text(arguments, "key"),
            StateCalls.Value(arguments, state.Settings.Persistent.MaxValueBytes)), cancellationToken).ConfigureAwait(false));
}

/// <summary><c>state.persistent.delete</c>.</summary>
[Capability("state.persistent.delete")]
public sealed class StatePersistentDeleteHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.PersistentAsync(new DeleteKey(context.Session.Agent, StateCalls.Text(arguments, "key")), cancellationToken)
            .ConfigureAwait(false));
}

/// <summary><c>state.persistent.list</c>.</summary>
[Capability("state.persistent.list")]
public sealed class StatePersistentListHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.PersistentAsync(new ListKeys(context.Session.Agent, StateCalls.OptionalText(arguments, "prefix")), cancellationToken)
            .ConfigureAwait(false));
}

/// <summary><c>state.persistent.query</c>.</summary>
[Capability("state.persistent.query")]
public sealed class StatePersistentQueryHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.PersistentAsync(new QueryPrefix(context.Session.Agent, StateCalls.Text(arguments, "prefix")), cancellationToken)
            .ConfigureAwait(false));
}

/// <summary><c>state.persistent.history</c>.</summary>
[Capability("state.persistent.history")]
public sealed class StatePersistentHistoryHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var limit = StateCalls.OptionalInteger(arguments, "limit");
        var query = new GetHistory(context.Session.Agent, StateCalls.Text(arguments, "key"), limit is { } l ? (int)Math.Min(l, int.MaxValue) : null);
        return StateCalls.Answer(await state.PersistentAsync(query, cancellationToken).ConfigureAwait(false));
    }
}
