using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Shared;

namespace KruxOS.Actors.State.Backups;

/// <summary>
/// The state entities as a backup restore reads and writes them (ADR 0060): the gateway's is <see cref="StateRestoreTarget"/>,
/// which asks the entities through <see cref="StateAccess"/>. It is the edge where specs make one chosen write fail (a
/// refusal, a lost answer, an exception) to check that a failed restore changes nothing.
/// </summary>
public interface IRestoreTarget
{
    /// <summary>A command or query of an agent's persistent state.</summary>
    Task<IStateReply> PersistentAsync(IPersistentStateMessage message, CancellationToken ct);

    /// <summary>A command or query of one shared-state partition.</summary>
    Task<IStateReply> SharedAsync(ISharedStateMessage message, CancellationToken ct);
}

/// <summary>The state entities themselves, through <see cref="StateAccess"/> (each request bounded by its ask timeout).</summary>
public sealed class StateRestoreTarget(StateAccess state) : IRestoreTarget
{
    /// <inheritdoc />
    public Task<IStateReply> PersistentAsync(IPersistentStateMessage message, CancellationToken ct) => state.PersistentAsync(message, ct);

    /// <inheritdoc />
    public Task<IStateReply> SharedAsync(ISharedStateMessage message, CancellationToken ct) => state.SharedAsync(message, ct);
}
