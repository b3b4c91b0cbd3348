using Akka.Actor;
using Akka.Event;
using KruxOS.Core.Audit;
using KruxOS.Core.Proxy;
using KruxOS.Proxy;

namespace KruxOS.Actors.Proxy;

/// <summary>
/// Node-local sync runner: one replica per service, synced on the adapter's interval (initial sync when the replica has no
/// cursor, incremental from the stored cursor otherwise) and at once after a connect. Each sync runs as a piped task —
/// never on this actor's thread — and at most one per service at a time; a failed or timed-out sync keeps its cursor and
/// is retried on the next tick. A service whose credential is absent or revoked is not synced.
/// </summary>
public sealed class ProxySyncActor : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan FirstTick = TimeSpan.FromSeconds(1);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ServiceAdapters _adapters;
    private readonly ProxyReplicas _replicas;
    private readonly IServiceCredentials _credentials;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _timeout;
    private readonly HashSet<string> _running = new(StringComparer.Ordinal);
    private readonly HashSet<string> _again = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stop = new();

    public ProxySyncActor(ServiceAdapters adapters, ProxyReplicas replicas, IServiceCredentials credentials, TimeProvider clock, TimeSpan timeout)
    {
        _adapters = adapters;
        _replicas = replicas;
        _credentials = credentials;
        _clock = clock;
        _timeout = timeout;
        Receive<SyncNow>(m => Start(m.Service));
        Receive<Tick>(m => Start(m.Service));
        Receive<SyncDone>(Done);
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The runner's props.</summary>
    public static Props Props(ServiceAdapters adapters, ProxyReplicas replicas, IServiceCredentials credentials, TimeProvider clock, TimeSpan timeout) =>
        Akka.Actor.Props.Create(() => new ProxySyncActor(adapters, replicas, credentials, clock, timeout));

    /// <summary>Sync <paramref name="Service"/> now (after a connect; an operator's request).</summary>
    public sealed record SyncNow(ServiceName Service) : INoSerializationVerificationNeeded;

    /// <inheritdoc />
    protected override void PreStart()
    {
        foreach (var a in _adapters.All) Timers.StartSingleTimer("sync:" + a.Descriptor.Name.Value, new Tick(a.Descriptor.Name), FirstTick);
    }

    /// <inheritdoc />
    protected override void PostStop()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private void Start(ServiceName service)
    {
        if (_adapters.Find(service) is not { } adapter) return;
        if (!_running.Add(service.Value))
        {
            _again.Add(service.Value);
            return;
        }
        var replica = _replicas.For(service);
        var state = _credentials.Status(service).State;
        if (state is CredentialState.Absent or CredentialState.Revoked)
        {
            Self.Tell(new SyncDone(service, null, 0, "not connected"));
            return;
        }
        var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        cts.CancelAfter(_timeout);
        RunAsync(adapter, replica, _clock, cts.Token).PipeTo(Self,
            success: d => d,
            failure: e => new SyncDone(service, e.GetType().Name, 0, null));
    }

    private void Done(SyncDone d)
    {
        _running.Remove(d.Service.Value);
        if (d.Error is not null) _log.Warning("Sync of {0} failed: {1}", d.Service.Value, d.Error);
        if (_adapters.Find(d.Service) is not { } adapter) return;
        if (_again.Remove(d.Service.Value))
        {
            Start(d.Service);
            return;
        }
        Timers.StartSingleTimer("sync:" + d.Service.Value, new Tick(d.Service), adapter.Descriptor.SyncInterval);
    }

    // One sync: read the cursor, let the adapter write its tables, store the new cursor (or the failure) in the same file.
    private static async Task<SyncDone> RunAsync(IServiceAdapter adapter, ServiceReplica replica, TimeProvider clock, CancellationToken ct)
    {
        var service = adapter.Descriptor.Name;
        await using var lease = await replica.OpenAsync(ct).ConfigureAwait(false);
        var state = await ServiceReplica.ReadSyncStateAsync(lease.Connection, ct).ConfigureAwait(false);
        SyncOutcome outcome;
        try
        {
            outcome = await adapter.SyncAsync(new SyncRequest(lease.Connection, state.Cursor, state.Account), ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            outcome = SyncOutcome.Failure("the sync timed out");
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            outcome = SyncOutcome.Failure($"the adapter failed ({e.GetType().Name})");
        }
        var now = clock.GetUtcNow();
        if (outcome.Ok)
        {
            if (outcome.Cursor is { Length: > 64 * 1024 }) outcome = SyncOutcome.Failure("the adapter returned a cursor longer than 64 KiB");
            else
            {
                await ServiceReplica.SaveSyncAsync(lease.Connection, outcome.Cursor, Math.Max(0, outcome.Entries), now, CancellationToken.None).ConfigureAwait(false);
                return new SyncDone(service, null, outcome.ProviderCalls, null);
            }
        }
        var error = InputSanitizer.RedactTokens(outcome.Error ?? "sync failed");
        await ServiceReplica.SaveSyncErrorAsync(lease.Connection, error, now, CancellationToken.None).ConfigureAwait(false);
        return new SyncDone(service, error, outcome.ProviderCalls, null);
    }

    private sealed record Tick(ServiceName Service) : INoSerializationVerificationNeeded, IDeadLetterSuppression;

    private sealed record SyncDone(ServiceName Service, string? Error, int ProviderCalls, string? Skipped) : INoSerializationVerificationNeeded;
}
