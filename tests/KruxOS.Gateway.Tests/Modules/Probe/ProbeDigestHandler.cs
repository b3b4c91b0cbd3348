using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace KruxOS.Gateway.Tests.Modules.Probe;

/// <summary><c>probe.digest</c>: the SHA-256 of its text.</summary>
[Capability("probe.digest")]
public sealed class ProbeDigestHandler : ICapabilityHandler
{
    /// <inheritdoc />
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var digest = SHA256.HashData(Encoding.UTF8.GetBytes(arguments.GetProperty("text").GetString()!));
        return ValueTask.FromResult<CapabilityOutput>(CapabilityCatalog.ToElement(new { sha256 = Convert.ToHexStringLower(digest) }));
    }
}
