using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Audit;
using KruxOS.Core.Errors;
using KruxOS.Core.Vault;
using KruxOS.Vault;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Vault;

/// <summary>
/// The node's <see cref="ISecretAccess"/>: resolves against this node's latest ciphertext state
/// (<see cref="VaultDirectory"/>) with this node's key (<see cref="VaultKeyHolder"/>), and writes every resolution, granted
/// or refused, to the audit log before it returns. A resolution whose entry the audit writer refuses or does not
/// acknowledge in time is refused (<c>ServiceUnavailable</c>) and its value zeroed: no secret is used unaudited.
/// Not for use inside actors (it awaits the audit writer); actors pipe it.
/// </summary>
public sealed class HostedSecretAccess(VaultDirectory directory, VaultKeyHolder keys, ActorRegistry registry, TimeProvider clock,
    ILogger<HostedSecretAccess> log) : ISecretAccess
{
    /// <summary>How long a resolution waits for the audit writer's acknowledgement.</summary>
    public static readonly TimeSpan AuditTimeout = TimeSpan.FromSeconds(10);

    /// <inheritdoc />
    public bool IsUnlocked => keys.IsUnlocked && directory.Current.IsInitialized;

    /// <inheritdoc />
    public async Task<SecretResolution> ResolveAsync(SecretUseContext use, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(use);
        ArgumentNullException.ThrowIfNull(use.Request);
        var resolution = keys.Resolve(directory.Current, use.Request);
        string? failure;
        try
        {
            var entry = SecretUseAuditEntry.For(use, resolution.Audit, resolution.Decision.AgentError?.ErrorType, clock.GetUtcNow());
            failure = await AppendAsync(entry, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            resolution.Dispose();
            throw;
        }
        catch (Exception ex)
        {
            failure = $"the audit entry could not be built or sent ({ex.GetType().Name})";
        }
        if (failure is null) return resolution;
        log.LogError("Secret resolution for {Capability} refused: its audit entry was not written ({Reason})", use.Request.Capability.Value, failure);
        return resolution.RefuseAfter(SecretUseOutcome.AuditUnavailable, $"not audited: {failure}", Errors.ServiceUnavailable("audit", failure));
    }

    /// <inheritdoc />
    public bool TryDeriveKey(string purpose, Span<byte> destination) => directory.Current.IsInitialized
        ? keys.TryDerive(purpose, destination)
        : Cleared(destination);

    private static bool Cleared(Span<byte> destination)
    {
        destination.Clear();
        return false;
    }

    private Task<string?> AppendAsync(Core.Audit.AuditEntry entry, CancellationToken ct) => registry.AppendAcknowledgedAsync(entry, AuditTimeout, ct);
}
