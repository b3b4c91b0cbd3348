using System.Text.Json;
using KruxOS.Actors.State;
using KruxOS.Capabilities;
using static KruxOS.Core.State.Session.SessionStateCommands;

namespace KruxOS.Actors.Capabilities.StateCategory;

/// <summary><c>state.session.get</c>.</summary>
[Capability("state.session.get")]
public sealed class StateSessionGetHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.SessionAsync(new GetSessionValue(context.Session.Agent, context.Session.SessionId,
            StateCalls.Text(arguments, "key")), cancellationToken).ConfigureAwait(false));
}

/// <summary><c>state.session.set</c>.</summary>
[Capability("state.session.set")]
public sealed class StateSessionSetHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.SessionAsync(new SetSessionValue(context.Session.Agent, context.Session.SessionId,
            StateCalls.Text(arguments, "key"), StateCalls.Value(arguments, state.Settings.Session.MaxValueBytes)), cancellationToken).ConfigureAwait(false));
}

/// <summary><c>state.session.delete</c>.</summary>
[Capability("state.session.delete")]
public sealed class StateSessionDeleteHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.SessionAsync(new DeleteSessionValue(context.Session.Agent, context.Session.SessionId,
            StateCalls.Text(arguments, "key")), cancellationToken).ConfigureAwait(false));
}

/// <summary><c>state.session.list</c>.</summary>
[Capability("state.session.list")]
public sealed class StateSessionListHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.SessionAsync(new ListSessionKeys(context.Session.Agent, context.Session.SessionId,
            StateCalls.OptionalText(arguments, "prefix")), cancellationToken).ConfigureAwait(false));
}

/// <summary><c>state.session.clear</c>.</summary>
[Capability("state.session.clear")]
public sealed class StateSessionClearHandler(StateAccess state) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        StateCalls.Answer(await state.SessionAsync(new ClearSession(context.Session.Agent, context.Session.SessionId), cancellationToken)
            .ConfigureAwait(false));
}
