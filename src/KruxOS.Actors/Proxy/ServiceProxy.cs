using System.Collections.Concurrent;
using System.Text.Json;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.Proxy;
using KruxOS.Proxy;
using Microsoft.Extensions.Logging;
using static KruxOS.Core.Proxy.WriteCommands;

namespace KruxOS.Actors.Proxy;

/// <summary>Settings of the proxy area.</summary>
public sealed class ProxySettings
{
    /// <summary>Waits between failed attempts (default 1, 2, 4, 8, 16 min; tests shorten them). Empty: the default.</summary>
    public List<TimeSpan> Backoff { get; set; } = [];

    /// <summary>How long one adapter step (lookup, capture, execute, an immediate write) may take (default 60 s).</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one sync may take (default 5 min).</summary>
    public TimeSpan SyncTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A write entity with nothing running passivates after this long (default 30 s); the index wakes it when due.</summary>
    public TimeSpan EntityIdle { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The decisions' settings.</summary>
    public WriteSettings ToWriteSettings() => Backoff.Count == 0 ? WriteSettings.Default : new WriteSettings([.. Backoff]);
}

/// <summary>
/// The node's <see cref="IServiceProxy"/> (what the <c>email.*</c> and <c>slack.*</c> handlers call) and
/// <see cref="IServiceConnections"/> (what the Gmail OAuth callback ends with). Buffered writes are created through the
/// write region and answered after the entity persisted them; immediate writes run through the adapter during the call.
/// Edge code: it asks the region; never used on an actor's thread.
/// </summary>
public sealed class ServiceProxy(ServiceAdapters adapters, IServiceCredentials credentials, IRequiredActor<WriteRegion> writes, ProxyReplicas replicas,
    ProxyAuditSink audit, ProxySettings settings, ActorRegistry registry, TimeProvider clock, ILogger<ServiceProxy> log) : IServiceProxy, IServiceConnections
{
    /// <summary>How long a submission waits for the entity.</summary>
    public static readonly TimeSpan SubmitTimeout = TimeSpan.FromSeconds(15);

    /// <inheritdoc />
    public IServiceAdapter? Adapter(ServiceName service) => adapters.Find(service);

    /// <inheritdoc />
    public ServiceReplica Replica(ServiceName service) => replicas.For(service);

    /// <inheritdoc />
    public CredentialStatus Connection(ServiceName service) => credentials.Status(service);

    /// <inheritdoc />
    public async Task<WriteReceipt> SubmitAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (adapter, spec) = Operation(context, WriteMode.Buffered);
        var service = adapter.Descriptor.Name;
        RequireConnected(service);
        var now = clock.GetUtcNow();
        var id = WriteId.New(now);
        var command = new BufferWrite(id, service, spec.Operation, arguments, WriteMarker.New(id), context.Session.Agent, context.Session.SessionId,
            Describe(adapter, spec, arguments), spec.Window, spec.Rollback, now);
        WriteResult result;
        try
        {
            var region = await writes.GetAsync(cancellationToken).ConfigureAwait(false);
            result = await region.Ask<WriteResult>(command, SubmitTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (AskTimeoutException)
        {
            throw new CapabilityException(Errors.ServiceUnavailable(service.Value, "the write buffer did not answer in time; nothing was buffered"));
        }
        if (!result.IsOk) throw new CapabilityException(Errors.ServiceUnavailable(service.Value, "the write could not be buffered: " + result.Message));
        log.LogInformation("Write {WriteId} ({Operation}) of agent {Agent} buffered until {Until}", id.Value, spec.Operation.Value,
            context.Session.Agent.Value, result.State.BufferUntil);
        return new WriteReceipt(id, result.State.BufferUntil);
    }

    /// <inheritdoc />
    public async Task<WriteOutcome> ExecuteNowAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var (adapter, spec) = Operation(context, WriteMode.Immediate);
        RequireConnected(adapter.Descriptor.Name);
        var id = WriteId.New(clock.GetUtcNow());
        var execution = new WriteExecution(id, adapter.Descriptor.Name, spec.Operation, arguments, WriteMarker.New(id), context.Session.Agent,
            context.Session.SessionId, 1, null);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(settings.CallTimeout);
        try
        {
            return await adapter.ExecuteAsync(execution, cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return WriteOutcome.Transient("the provider did not answer in time");
        }
        catch (Exception e) when (e is not OperationCanceledException and not OutOfMemoryException)
        {
            log.LogWarning("Immediate {Operation} failed in the adapter ({Error})", spec.Operation.Value, e.GetType().Name);
            return WriteOutcome.Transient($"the adapter failed ({e.GetType().Name})");
        }
    }

    /// <inheritdoc />
    public async Task<CredentialChange> CompleteAsync(ServiceName service, string account, ReadOnlyMemory<byte> credential, CancellationToken cancellationToken)
    {
        if (adapters.Find(service) is null) return CredentialChange.Refused($"no adapter for '{service.Value}'");
        if (string.IsNullOrWhiteSpace(account) || account.Length > 256) return CredentialChange.Refused("the account must be 1 to 256 characters");
        var stored = await credentials.StoreAsync(service, credential, "connected", cancellationToken).ConfigureAwait(false);
        if (!stored.Ok) return stored;
        var replica = replicas.For(service);
        // Another account's data never stays: the replica is purged before the first sync of the new one (spec §12.5).
        var previous = (await replica.ReadSyncStateAsync(cancellationToken).ConfigureAwait(false)).Account;
        if (previous is not null && previous != account && !await replica.PurgeAsync(cancellationToken).ConfigureAwait(false))
            log.LogError("Service {Service}: the replica of the previous account could not be purged (connections stayed open)", service.Value);
        await using (var lease = await replica.OpenAsync(cancellationToken).ConfigureAwait(false))
            await ServiceReplica.SaveAccountAsync(lease.Connection, account, cancellationToken).ConfigureAwait(false);
        await audit.AppendAsync(ServiceCredentialAudit.Change("proxy.connect", ServiceCredentialAudit.ServicePrincipal.Name, service.Value, true,
            $"connected to account {account}", clock.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        if (registry.TryGet<ProxySyncRunner>(out var runner)) runner.Tell(new ProxySyncActor.SyncNow(service));
        return CredentialChange.Done($"connected to {account}");
    }

    /// <summary>
    /// An agent cancels one of its own buffered writes (<c>proxy.cancel_write</c>); another agent's write is reported as
    /// not found, exactly like an unknown id.
    /// </summary>
    public async Task<WriteResult> CancelOwnAsync(AgentName agent, WriteId id, CancellationToken cancellationToken)
    {
        var region = await writes.GetAsync(cancellationToken).ConfigureAwait(false);
        return await region.Ask<WriteResult>(new CancelWrite(id, "agent:" + agent.Value, agent, "cancelled by the agent", clock.GetUtcNow()),
            SubmitTimeout, cancellationToken).ConfigureAwait(false);
    }

    private (IServiceAdapter Adapter, WriteOperationSpec Spec) Operation(InvocationContext context, WriteMode mode)
    {
        var name = context.Capability.Name;
        if (adapters.ForCapability(name) is not { } adapter || adapter.Descriptor.Find(name) is not { } spec || spec.Mode != mode)
            throw new CapabilityException(Errors.Internal($"'{name.Value}' is not a {mode.ToString().ToLowerInvariant()} write of a registered service"));
        return (adapter, spec);
    }

    private void RequireConnected(ServiceName service)
    {
        if (credentials.Status(service).State is CredentialState.Absent or CredentialState.Revoked)
            throw new CapabilityException(ProxyErrors.NotConnected(service));
    }

    private string Describe(IServiceAdapter adapter, WriteOperationSpec spec, JsonElement arguments)
    {
        try
        {
            var text = adapter.Describe(spec.Operation, arguments) ?? string.Empty;
            return text.Length <= BufferedWriteDecisions.MaxDescription ? text : text[..BufferedWriteDecisions.MaxDescription];
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            log.LogWarning("The {Service} adapter could not describe a write ({Error})", adapter.Descriptor.Name.Value, e.GetType().Name);
            return spec.Operation.Value;
        }
    }
}

/// <summary>The node's replicas, one per service, under <c>&lt;data&gt;/proxy</c>.</summary>
public sealed class ProxyReplicas(string proxyDirectory)
{
    private readonly ConcurrentDictionary<string, ServiceReplica> _replicas = new(StringComparer.Ordinal);

    /// <summary><c>&lt;data&gt;/proxy</c>.</summary>
    public string Directory { get; } = proxyDirectory;

    /// <summary>The replica of <paramref name="service"/> (one instance per service, so purges see every open connection).</summary>
    public ServiceReplica For(ServiceName service) => _replicas.GetOrAdd(service.Value, _ => new ServiceReplica(Directory, service));
}
