using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using KruxOS.Core.Errors;
using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Session;
using KruxOS.Core.State.Shared;
using static KruxOS.Actors.State.StateAreaMessages;

namespace KruxOS.Actors.State;

/// <summary>
/// The state entities as the edges use them (capability handlers, the admin service): one asynchronous request each,
/// bounded by <see cref="StateSettings.AskTimeout"/>. Never used inside an actor.
/// </summary>
public sealed class StateAccess(ActorRegistry registry, KruxOsSettings settings)
{
    private TimeSpan Timeout => settings.State.AskTimeout;

    /// <summary>The limits in force.</summary>
    public StateSettings Settings => settings.State;

    /// <summary>A command or query of an agent's persistent state.</summary>
    public Task<IStateReply> PersistentAsync(IPersistentStateMessage message, CancellationToken ct) => AskAsync<PersistentStateRegion>(message, ct);

    /// <summary>A command or query of one shared-state partition.</summary>
    public Task<IStateReply> SharedAsync(ISharedStateMessage message, CancellationToken ct) => AskAsync<SharedStateRegion>(message, ct);

    /// <summary>A message to one session's state.</summary>
    public Task<IStateReply> SessionAsync(ISessionStateMessage message, CancellationToken ct) => AskAsync<SessionStateRegion>(message, ct);

    /// <summary>A session-state message answered with something other than a capability reply (checkpoint, end); specs and the admin service.</summary>
    public async Task<object> SessionRawAsync(ISessionStateMessage message, CancellationToken ct)
    {
        if (!registry.TryGet<SessionStateRegion>(out var target))
            return new StateRefused(Errors.ServiceUnavailable("state", "the state area is not running on this node"));
        try
        {
            return await target.Ask<object>(message, Timeout, ct).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return new StateRefused(Errors.Timeout("state", Timeout.TotalSeconds));
        }
    }

    /// <summary><c>state.shared.list</c>: every partition's part, merged.</summary>
    public async Task<IStateReply> SharedListAsync(string? prefix, CancellationToken ct)
    {
        if (StateKeys.ValidatePrefix(prefix) is { } bad) return new StateRefused(bad);
        var parts = await Task.WhenAll(Enumerable.Range(0, SharedStatePartitions.Count)
            .Select(p => SharedAsync(new SharedStateQueries.ListShared(p, prefix), ct))).ConfigureAwait(false);
        return SharedStateListing.Merge(parts, settings.State.Shared);
    }

    /// <summary>Total shared-state use (sum of the partitions' charged bytes) and keys.</summary>
    public async Task<(long UsedBytes, int Keys)> SharedUsageAsync(CancellationToken ct)
    {
        var parts = await Task.WhenAll(Enumerable.Range(0, SharedStatePartitions.Count)
            .Select(p => SharedAsync(new SharedStateQueries.GetPartitionUsage(p), ct))).ConfigureAwait(false);
        var usage = parts.OfType<SharedStateReplies.PartitionUsage>().ToList();
        return (usage.Sum(u => u.UsedBytes), usage.Sum(u => u.Keys));
    }

    /// <summary>
    /// The <c>state</c> health check (<c>system.health</c>): how much of the shared quota the ledger has granted. Degraded
    /// from 90 %, critical when the ledger does not answer.
    /// </summary>
    public async ValueTask<HealthCheckResult> CheckAsync(CancellationToken ct)
    {
        if (!registry.TryGet<SharedQuotaLedgerKey>(out var ledger)) return HealthCheckResult.Critical("the shared-state quota ledger is not running");
        try
        {
            var usage = await ledger.Ask<SharedQuotaReplies.LedgerUsage>(SharedQuotaCommands.GetLedgerUsage.Instance, HealthTimeout, ct).ConfigureAwait(false);
            var percent = usage.LimitBytes <= 0 ? 0 : Math.Round(100.0 * usage.TotalGranted / usage.LimitBytes, 1);
            var message = $"shared state: {usage.TotalGranted} of {usage.LimitBytes} bytes granted ({percent}%) to {usage.Partitions} partitions; " +
                          $"persistent quota {settings.State.PersistentQuotaMb} MiB per agent, session quota {settings.State.SessionQuotaMb} MiB";
            return percent >= 90 ? HealthCheckResult.Degraded(message) : HealthCheckResult.Healthy(message);
        }
        catch (AskTimeoutException)
        {
            return HealthCheckResult.Critical("the shared-state quota ledger did not answer");
        }
    }

    private static readonly TimeSpan HealthTimeout = TimeSpan.FromSeconds(2);

    /// <summary><c>state.shared.watch</c> on this node's hub.</summary>
    public Task<IStateReply> WatchAsync(WatchShared message, CancellationToken ct) => AskAsync<StateWatchHub>(message, ct);

    /// <summary>This node's open MCP sessions (the watch hub's view); null when the hub does not answer.</summary>
    public async Task<LiveSessions?> LiveSessionsAsync(CancellationToken ct)
    {
        if (!registry.TryGet<StateWatchHub>(out var hub)) return null;
        try
        {
            return await hub.Ask<LiveSessions>(ListLiveSessions.Instance, Timeout, ct).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return null;
        }
    }

    private async Task<IStateReply> AskAsync<TKey>(object message, CancellationToken ct)
    {
        if (!registry.TryGet<TKey>(out var target))
            return new StateRefused(Errors.ServiceUnavailable("state", "the state area is not running on this node"));
        try
        {
            return await target.Ask<IStateReply>(message, Timeout, ct).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            return new StateRefused(Errors.Timeout("state", Timeout.TotalSeconds));
        }
    }
}
