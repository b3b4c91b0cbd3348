using System.Collections.Immutable;
using Akka.Actor;
using KruxOS.Actors.Persistence;
using KruxOS.Core.Alerts;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Alerts;

/// <summary>Registry key of the alert store (a cluster singleton <c>alerts</c>, or <c>/user/gateway/alerts</c>).</summary>
public sealed class AlertStoreKey;

/// <summary>
/// The deployment's one alert store, event-sourced under <see cref="AlertStore.PersistenceId"/>. Commands are decided by
/// the pure <see cref="AlertStoreExtensions.ProcessCommand"/>; the answer is sent once the events are durable. A command
/// it cannot decide is refused with <see cref="AlertsRefused"/>, never dropped and never a crash.
/// </summary>
public sealed class AlertStoreActor : DecidingPersistentActor<AlertStore, IAlertCommand, IAlertEvent, IAlertReply>
{
    /// <summary>A snapshot is taken every this many events.</summary>
    public const int Snapshots = 500;

    private readonly AlertLimits _limits;
    private readonly TimeProvider _clock;

    public AlertStoreActor(AlertLimits limits, TimeProvider clock) : base(AlertStore.Empty, Snapshots, "Alert store")
    {
        _limits = limits;
        _clock = clock;
    }

    /// <inheritdoc />
    public override string PersistenceId => AlertStore.PersistenceId;

    /// <summary>The store's props.</summary>
    public static Props Props(AlertLimits limits, TimeProvider clock) => Akka.Actor.Props.Create(() => new AlertStoreActor(limits, clock));

    /// <inheritdoc />
    protected override (IAlertReply Reply, ImmutableArray<IAlertEvent> Events) Decide(AlertStore state, IAlertCommand command) =>
        state.ProcessCommand(command, _clock.GetUtcNow(), _limits);

    /// <inheritdoc />
    protected override AlertStore Apply(AlertStore state, IAlertEvent @event) => state.Apply(@event);

    /// <inheritdoc />
    protected override object ToSnapshot(AlertStore state) => state.ToSnapshot();

    /// <inheritdoc />
    protected override AlertStore? FromSnapshot(object snapshot) => snapshot is AlertStoreSnapshot s ? AlertStore.FromSnapshot(s) : null;

    /// <inheritdoc />
    protected override IAlertReply Malformed(IAlertCommand command) => new AlertsRefused(Errors.InvalidInput("command", "malformed alert command"));
}
