using System.Text.Json.Nodes;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Vault;
using KruxOS.Core.Alerts;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;
using KruxOS.Core.Proxy;
using KruxOS.Core.State;
using KruxOS.Core.Vault;
using KruxOS.Proxy;
using KruxOS.Vault;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Proxy;

/// <summary>
/// The node's <see cref="IServiceCredentials"/>: the gateway's own access to <c>service/&lt;service&gt;/oauth</c>.
/// <list type="bullet">
/// <item>Open: the host must be one of the adapter's <see cref="IServiceAdapter.CredentialHosts"/>; the vault decides the use
/// like any other (<c>allowed_capabilities</c> = the service's categories and <c>proxy.&lt;service&gt;</c>, <c>allowed_hosts</c>
/// = the adapter's hosts), and the resolution is audited before the value is handed out — not audited, not used.</item>
/// <item>Store: sealed on this node (the entity sees ciphertext only), scoped as above; the caller's buffer is only read.</item>
/// <item>Flag / remove: needs-attention with a critical alert; revoke.</item>
/// </list>
/// Never logs, returns or keeps a value.
/// </summary>
public sealed class HostedServiceCredentials(ServiceAdapters adapters, VaultDirectory directory, VaultKeyHolder keys, IRequiredActor<VaultRegistry> vault,
    VaultAdmin vaultAdmin, ProxyAuditSink audit, TimeProvider clock, IServiceProvider services, ILogger<HostedServiceCredentials> log) : IServiceCredentials
{
    /// <inheritdoc />
    public async Task<CredentialLease> OpenAsync(CredentialUse use, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(use);
        if (adapters.Find(use.Service) is not { } adapter) return new CredentialLease(ProxyErrors.NotConnected(use.Service));
        if (!HostNames.TryNormalize(use.Host, out var host, out var kind, out _)
            || !adapter.CredentialHosts.Any(h => string.Equals(h, host, StringComparison.OrdinalIgnoreCase)))
        {
            log.LogError("Service {Service}: a credential use for a host outside the adapter's credential hosts was refused", use.Service.Value);
            return new CredentialLease(Errors.Internal($"the {use.Service.Value} credential cannot be sent to that host"));
        }
        var capability = use.Capability ?? OwnCapability(use.Service);
        if (!adapter.Descriptor.Categories.Contains(capability.Category, StringComparer.Ordinal) && capability != OwnCapability(use.Service))
            return new CredentialLease(Errors.Internal($"the {use.Service.Value} credential cannot be used for '{capability.Value}'"));
        var request = new SecretUseRequest(ManagedSecretName.ServiceOAuth(use.Service.Value).Name.Value, capability,
            new SecretDestination(host, kind, true, "the service adapter's configured provider host"));
        var resolution = keys.Resolve(directory.Current, request);
        string? failure;
        try
        {
            var entry = ServiceCredentialAudit.Use(use, resolution.Audit, resolution.Decision.AgentError?.ErrorType, clock.GetUtcNow());
            failure = await audit.AppendAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            resolution.Dispose();
            throw;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            failure = $"the audit entry could not be built or sent ({e.GetType().Name})";
        }
        if (failure is not null)
        {
            resolution.Dispose();
            log.LogError("Service {Service}: a credential use was refused because its audit entry was not written ({Reason})", use.Service.Value, failure);
            return new CredentialLease(Errors.ServiceUnavailable("audit", failure));
        }
        if (resolution.Value is { } value) return new CredentialLease(value);
        var error = resolution.Decision.Outcome == SecretUseOutcome.VaultLocked ? VaultErrors.VaultLocked() : ProxyErrors.NotConnected(use.Service);
        return new CredentialLease(error);
    }

    /// <inheritdoc />
    public async Task<CredentialChange> StoreAsync(ServiceName service, ReadOnlyMemory<byte> value, string reason, CancellationToken cancellationToken)
    {
        if (adapters.Find(service) is not { } adapter) return CredentialChange.Refused($"no adapter for '{service.Value}'");
        if (keys.Current is not { } key) return CredentialChange.Refused("the vault is locked on this node; run 'kruxos vault unlock'");
        var name = ManagedSecretName.ServiceOAuth(service.Value);
        PreparedCommand prepared;
        try
        {
            prepared = VaultOperations.StoreManaged(directory.Current, key, name, SecretType.OauthToken, Scope(adapter), adapter.CredentialHosts,
                value.Span, clock.GetUtcNow());
        }
        catch (VaultLockedException)
        {
            return CredentialChange.Refused("the vault is locked on this node");
        }
        if (!prepared.IsReady) return CredentialChange.Refused(prepared.Refusal!.Message);
        var change = await Ask(prepared.Command!, cancellationToken).ConfigureAwait(false);
        await AuditChange("proxy.credential_stored", service, change, reason, cancellationToken).ConfigureAwait(false);
        return change;
    }

    /// <inheritdoc />
    public async Task<CredentialChange> FlagAsync(ServiceName service, string reason, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(reason);
        var text = InputSanitizer(reason);
        var change = await Ask(new VaultCommands.FlagSecret(ManagedSecretName.ServiceOAuth(service.Value).Name, text, clock.GetUtcNow()), cancellationToken)
            .ConfigureAwait(false);
        await AuditChange("proxy.credential_flagged", service, change, text, cancellationToken).ConfigureAwait(false);
        if (change.Ok && services.GetService<ActorSystem>() is { } system)
            system.EventStream.Publish(new SystemAlertRaised(ProxyEvents.AlertComponent, AlertSeverity.Critical,
                $"The {service.Value} credential needs attention: {text}. Reconnect with 'kruxos connect {service.Value}'.",
                StoredJson.Parse(new JsonObject { ["service"] = service.Value, ["reason"] = text }.ToJsonString())));
        return change;
    }

    /// <inheritdoc />
    public async Task<CredentialChange> RemoveAsync(ServiceName service, string reason, CancellationToken cancellationToken)
    {
        var name = ManagedSecretName.ServiceOAuth(service.Value).Name;
        if (directory.Current.Find(name) is null) return CredentialChange.Done("no credential stored");
        var change = await Ask(new VaultCommands.RevokeSecret(name, InputSanitizer(reason), clock.GetUtcNow()), cancellationToken).ConfigureAwait(false);
        await AuditChange("proxy.credential_revoked", service, change, reason, cancellationToken).ConfigureAwait(false);
        return change;
    }

    /// <inheritdoc />
    public CredentialStatus Status(ServiceName service)
    {
        var state = directory.Current;
        if (!state.IsInitialized || state.Find(ManagedSecretName.ServiceOAuth(service.Value).Name) is not { } record)
            return new CredentialStatus(service, CredentialState.Absent, 0, null, null);
        var at = record.RevokedAt ?? record.RotatedAt ?? record.CreatedAt;
        var s = record.IsRevoked ? CredentialState.Revoked
            : record.NeedsAttention is not null ? CredentialState.NeedsAttention
            : !keys.IsUnlocked ? CredentialState.Locked
            : CredentialState.Live;
        return new CredentialStatus(service, s, record.Version, at, record.NeedsAttention);
    }

    /// <summary>The capability name a service's own work is decided and audited under: <c>proxy.&lt;service&gt;</c>.</summary>
    public static CapabilityName OwnCapability(ServiceName service) => CapabilityName.Parse("proxy." + service.Value);

    /// <summary>The <c>allowed_capabilities</c> of a service credential: its categories, and the service's own work.</summary>
    public static IEnumerable<string> Scope(IServiceAdapter adapter) =>
        adapter.Descriptor.Categories.Select(c => c + ".*").Append(OwnCapability(adapter.Descriptor.Name).Value);

    private async Task<CredentialChange> Ask(IVaultCommand command, CancellationToken ct)
    {
        try
        {
            var registry = await vault.GetAsync(ct).ConfigureAwait(false);
            var answer = await registry.Ask<VaultResult>(command, AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
            if (answer.IsOk) await vaultAdmin.RefreshAsync(ct).ConfigureAwait(false);
            return answer.IsOk ? CredentialChange.Done(answer.Message) : CredentialChange.Refused(answer.Message);
        }
        catch (AskTimeoutException)
        {
            return CredentialChange.Refused("the vault did not answer in time");
        }
    }

    private async Task AuditChange(string action, ServiceName service, CredentialChange change, string reason, CancellationToken ct)
    {
        var failure = await audit.AppendAsync(ServiceCredentialAudit.Change(action, ServiceCredentialAudit.ServicePrincipal.Name, service.Value, change.Ok,
            $"{(change.Ok ? "ok" : "refused")}: {change.Message} ({reason})", clock.GetUtcNow()), ct).ConfigureAwait(false);
        if (failure is not null) log.LogError("Service {Service}: the audit entry of {Action} was not written ({Reason})", service.Value, action, failure);
    }

    private static string InputSanitizer(string text)
    {
        var clean = Core.Audit.InputSanitizer.RedactTokens(text);
        return clean.Length <= 400 ? clean : clean[..400];
    }
}
