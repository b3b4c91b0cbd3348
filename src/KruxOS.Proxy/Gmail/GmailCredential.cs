using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace KruxOS.Proxy.Gmail;

/// <summary>
/// The value of the vault entry <c>service/gmail/oauth</c>: the account's tokens and the OAuth client they were issued to
/// (a refresh needs the client's id and secret, and the gateway must be able to refresh after a restart without the
/// operator). It prints without secrets; its JSON form exists only to be sealed into the vault.
/// </summary>
public sealed record GmailCredential(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("refresh_token")] string RefreshToken,
    [property: JsonPropertyName("expires_at")] DateTimeOffset ExpiresAt,
    [property: JsonPropertyName("scopes")] ImmutableArray<string> Scopes,
    [property: JsonPropertyName("account")] string Account,
    [property: JsonPropertyName("client_id")] string ClientId,
    [property: JsonPropertyName("client_secret")] string ClientSecret)
{
    /// <summary>Largest value accepted back from the vault.</summary>
    public const int MaxBytes = 16 * 1024;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { MaxDepth = 8 };

    /// <inheritdoc />
    public override string ToString() => $"GmailCredential({Account}, expires {ExpiresAt:O})";

    /// <summary>The UTF-8 JSON sealed into the vault (the caller zeroes it after storing).</summary>
    public byte[] ToBytes() => JsonSerializer.SerializeToUtf8Bytes(this, Json);

    /// <summary>Reads the vault value; null when malformed (never throws on bad bytes).</summary>
    public static GmailCredential? Parse(ReadOnlySpan<byte> value)
    {
        if (value.Length is 0 or > MaxBytes) return null;
        try
        {
            var c = JsonSerializer.Deserialize<GmailCredential>(value, Json);
            return c is null || string.IsNullOrEmpty(c.AccessToken) || c.RefreshToken is null || c.Scopes.IsDefault
                   || string.IsNullOrEmpty(c.ClientId) || c.ClientSecret is null || c.Account is null ? null : c;
        }
        catch (JsonException) { return null; }
    }
}
