using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Actors.Vault;
using KruxOS.Core.Admin;
using KruxOS.Gateway.Admin;

namespace KruxOS.Gateway.Control;

/// <summary>
/// The <c>vault.*</c> methods of the control socket (and the User API's vault routes): parameters read, the
/// <see cref="VaultAdmin"/> called, the answer rendered by <see cref="VaultJson"/>. A value is converted to bytes once and
/// those bytes are zeroed after sealing; passphrases and values never appear in an answer or an error message. Changes
/// run as <c>by</c>, the adapter's authenticated operator, which <see cref="VaultAdmin"/> audits.
/// </summary>
public sealed class VaultControl(VaultAdmin admin)
{
    /// <summary>The largest value accepted (bytes of UTF-8), as the vault's own bound.</summary>
    public const int MaxValueBytes = KruxOS.Core.Vault.VaultFormat.MaxValueBytes;

    /// <summary><c>vault.status</c>.</summary>
    public Task<(JsonNode?, AdminError?)> StatusAsync(JsonObject p, CancellationToken ct) =>
        Task.FromResult<(JsonNode?, AdminError?)>((VaultJson.Status(admin.Status()), null));

    /// <summary><c>vault.init</c> <c>{passphrase}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> InitAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.InitializeAsync(Text(p, "passphrase").AsMemory(), by, ct).ConfigureAwait(false), VaultJson.Status);

    /// <summary><c>vault.unlock</c> <c>{passphrase}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> UnlockAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.UnlockAsync(Text(p, "passphrase").AsMemory(), by, ct).ConfigureAwait(false), VaultJson.Status);

    /// <summary><c>vault.lock</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> LockAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.LockAsync(by, ct).ConfigureAwait(false), VaultJson.Status);

    /// <summary><c>vault.list</c> <c>{include_revoked}</c>.</summary>
    public Task<(JsonNode?, AdminError?)> ListAsync(JsonObject p, CancellationToken ct) =>
        Task.FromResult<(JsonNode?, AdminError?)>((VaultJson.List(admin.List(p["include_revoked"]?.GetValue<bool>() ?? false)), null));

    /// <summary><c>vault.add</c> <c>{name, type, allowed_capabilities, allowed_hosts, value}</c>.</summary>
    public Task<(JsonNode?, AdminError?)> AddAsync(JsonObject p, string by, CancellationToken ct) =>
        WithValue(p, value => admin.AddAsync(p["name"]?.GetValue<string>(), p["type"]?.GetValue<string>(), List(p, "allowed_capabilities"),
            List(p, "allowed_hosts"), value, by, ct));

    /// <summary><c>vault.rotate</c> <c>{name, value}</c>.</summary>
    public Task<(JsonNode?, AdminError?)> RotateAsync(JsonObject p, string by, CancellationToken ct) =>
        WithValue(p, value => admin.RotateAsync(p["name"]?.GetValue<string>(), value, by, ct));

    /// <summary><c>vault.revoke</c> <c>{name, reason}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> RevokeAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.RevokeAsync(p["name"]?.GetValue<string>(), p["reason"]?.GetValue<string>(), by, ct).ConfigureAwait(false), VaultJson.Change);

    private static (JsonNode?, AdminError?) Render<T>(AdminResult<T> result, Func<T, JsonNode> render) =>
        result.IsOk ? (render(result.Value!), null) : (null, result.Error);

    private static string Text(JsonObject p, string name) => p[name]?.GetValue<string>() ?? "";

    private static IReadOnlyList<string> List(JsonObject p, string name) => p[name] switch
    {
        null => [],
        JsonArray a => [.. a.Select(n => n?.GetValue<string>() ?? "")],
        // One comma- or space-separated string, as the CLI's flags are written.
        var n => n.GetValue<string>().Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
    };

    private static async Task<(JsonNode?, AdminError?)> WithValue(JsonObject p, Func<ReadOnlyMemory<byte>, Task<AdminResult<VaultChange>>> run)
    {
        var text = p["value"]?.GetValue<string>();
        if (string.IsNullOrEmpty(text)) return (null, AdminErrors.InvalidInput("a value is required (the CLI reads it from stdin)"));
        var count = Encoding.UTF8.GetByteCount(text);
        if (count > MaxValueBytes) return (null, AdminErrors.InvalidInput($"the value must be at most {MaxValueBytes} bytes"));
        var bytes = GC.AllocateArray<byte>(count, pinned: true);
        try
        {
            Encoding.UTF8.GetBytes(text, bytes);
            return Render(await run(bytes).ConfigureAwait(false), VaultJson.Change);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }
}
