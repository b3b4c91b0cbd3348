using System.Text.Json;
using KruxOS.Actors.Vault;
using KruxOS.Capabilities;
using KruxOS.Core.Admin;
using KruxOS.Core.Errors;
using KruxOS.Core.Vault;

namespace KruxOS.Actors.Capabilities.Secrets;

/// <summary>
/// <c>secrets.rotate_request</c>: flags the secret as needing attention (listed by <c>kruxos vault status</c> until a new
/// value clears it) and raises a <c>vault</c> system alert. A name the agent may not see is <c>SecretNotFound</c>, like an
/// absent one.
/// </summary>
[Capability("secrets.rotate_request")]
public sealed class SecretsRotateRequestHandler(VaultAdmin vault) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        if (vault.LockState != VaultLockState.Unlocked) throw new CapabilityException(VaultErrors.VaultLocked());
        var name = arguments.GetProperty("secret_name").GetString() ?? "";
        var reason = arguments.TryGetProperty("reason", out var r) && r.GetString() is { Length: > 0 } given ? given : "expiring";
        var result = await vault.RequestRotationAsync(context.Principal.Name, name, reason, cancellationToken).ConfigureAwait(false);
        if (!result.IsOk)
            throw new CapabilityException(result.Error!.Kind switch
            {
                AdminErrorKind.NotFound => VaultErrors.SecretNotFound(name),
                AdminErrorKind.Timeout => Errors.ServiceUnavailable("vault", result.Error.Message),
                _ => VaultErrors.VaultError(result.Error.Message),
            });
        return CapabilityCatalog.ToElement(new { request_id = result.Value, secret_name = name, status = "submitted" });
    }
}
