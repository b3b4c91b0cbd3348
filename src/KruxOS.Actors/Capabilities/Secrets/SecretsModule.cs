using KruxOS.Capabilities;

namespace KruxOS.Actors.Capabilities.Secrets;

/// <summary>
/// The <c>secrets.*</c> capabilities (spec §8.13): listing names and scopes, the <c>secrets.use</c> marker, and rotation
/// requests. None of them ever returns a value; secrets are used by the capabilities that need them through
/// <see cref="KruxOS.Vault.ISecretAccess"/>.
/// </summary>
public sealed class SecretsModule() : CapabilityModule("secrets", "secrets");
