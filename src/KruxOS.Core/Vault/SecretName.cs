using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Vault;

/// <summary>
/// The name of a secret. Two kinds share one namespace:
/// <list type="bullet">
/// <item>operator names, written by <c>kruxos vault add</c>: 1-128 characters of <c>[A-Za-z0-9._-]</c>, starting
/// with a letter or digit (<c>stripe-api-key</c>);</item>
/// <item>managed names, written only by the gateway's own components through
/// <see cref="VaultCommands.StoreManagedSecret"/>: <c>model-provider:&lt;provider&gt;</c>,
/// <c>user/token/&lt;label&gt;</c> and <c>service/&lt;adapter&gt;/oauth</c> (spec §10.2).</item>
/// </list>
/// Names are compared exactly; two operator names that differ only in case cannot both exist.
/// </summary>
[JsonConverter(typeof(SecretNameJsonConverter))]
public readonly partial record struct SecretName
{
    /// <summary>The longest name.</summary>
    public const int MaxLength = 128;

    private SecretName(string value, ManagedKind? managed)
    {
        Value = value;
        Managed = managed;
    }

    /// <summary>The name as text.</summary>
    public string Value { get; }

    /// <summary>The managed namespace the name is in, or null for an operator name.</summary>
    public ManagedKind? Managed { get; }

    /// <summary>True for a managed name.</summary>
    public bool IsManaged => Managed is not null;

    /// <summary>Parses an operator name or a managed name (what a caller may ask to use).</summary>
    public static bool TryParse(string? text, out SecretName name, out string error)
    {
        if (ManagedSecretName.TryParse(text, out var managed, out _))
        {
            name = managed.Name;
            error = string.Empty;
            return true;
        }
        return TryParseOperatorName(text, out name, out error);
    }

    /// <summary>Parses a name an operator may create (<c>kruxos vault add</c>); managed and reserved names are refused with a reason.</summary>
    public static bool TryParseOperatorName(string? text, out SecretName name, out string error)
    {
        name = default;
        error = string.Empty;
        if (string.IsNullOrEmpty(text)) { error = "the secret name is empty"; return false; }
        if (text.StartsWith(ManagedSecretName.ModelProviderPrefix, StringComparison.OrdinalIgnoreCase))
        {
            error = $"'{text}' is a managed name: model provider keys are added with 'kruxos model add'";
            return false;
        }
        if (text.StartsWith(ManagedSecretName.UserTokenPrefix, StringComparison.OrdinalIgnoreCase))
        {
            error = $"'{text}' is a managed name: user tokens are stored by 'kruxos user-token create'";
            return false;
        }
        if (text.StartsWith(ManagedSecretName.ServicePrefix, StringComparison.OrdinalIgnoreCase))
        {
            error = $"'{text}' is a managed name: service credentials are stored when a service is connected";
            return false;
        }
        if (text.Length > MaxLength || !OperatorShape().IsMatch(text))
        {
            error = $"'{Shorten(text)}' is not a secret name: 1-{MaxLength} characters of letters, digits, '.', '_' and '-', starting with a letter or digit";
            return false;
        }
        name = new SecretName(text, null);
        return true;
    }

    internal static SecretName CreateManaged(string text, ManagedKind kind) => new(text, kind);

    /// <summary>Parses a name or throws <see cref="FormatException"/>; for trusted input.</summary>
    public static SecretName Parse(string text) => TryParse(text, out var n, out var e) ? n : throw new FormatException(e);

    /// <summary>The key under which names must be unique: operator names ignore case.</summary>
    public string UniquenessKey => IsManaged ? Value : Value.ToLowerInvariant();

    /// <inheritdoc />
    public override string ToString() => Value ?? string.Empty;

    /// <summary>A caller-supplied name cut to 64 characters for messages.</summary>
    public static string Shorten(string text) => text.Length <= 64 ? text : text[..64] + "…";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$", RegexOptions.CultureInvariant)]
    private static partial Regex OperatorShape();
}

/// <summary>The managed namespaces of spec §10.2.</summary>
public enum ManagedKind
{
    /// <summary><c>model-provider:&lt;provider&gt;</c>: model provider keys (<c>kruxos model add</c>).</summary>
    ModelProvider,
    /// <summary><c>user/token/&lt;label&gt;</c>: user tokens for launchers.</summary>
    UserToken,
    /// <summary><c>service/&lt;adapter&gt;/oauth</c>: a service adapter's OAuth tokens.</summary>
    ServiceOAuth,
}

/// <summary>
/// A managed secret name. It can only be built by the factories below (or parsed back from the journal), so a
/// command that writes a managed name says so in its type: operator commands take a <see cref="SecretName"/>
/// checked with <see cref="SecretName.TryParseOperatorName"/> and can never produce one.
/// </summary>
[JsonConverter(typeof(ManagedSecretNameJsonConverter))]
public readonly partial record struct ManagedSecretName
{
    /// <summary>Prefix of model provider keys.</summary>
    public const string ModelProviderPrefix = "model-provider:";
    /// <summary>Prefix of user tokens.</summary>
    public const string UserTokenPrefix = "user/token/";
    /// <summary>Prefix of service credentials (the whole <c>service/</c> namespace is reserved).</summary>
    public const string ServicePrefix = "service/";

    private ManagedSecretName(SecretName name) => Name = name;

    /// <summary>The name.</summary>
    public SecretName Name { get; }

    /// <summary><c>model-provider:&lt;provider&gt;</c>; the provider is 1-64 of <c>[a-z0-9._-]</c>.</summary>
    public static ManagedSecretName ModelProvider(string provider) => Build(ModelProviderPrefix + provider);

    /// <summary><c>user/token/&lt;label&gt;</c>; the label is 1-64 of <c>[A-Za-z0-9._-]</c>.</summary>
    public static ManagedSecretName UserToken(string label) => Build(UserTokenPrefix + label);

    /// <summary><c>service/&lt;adapter&gt;/oauth</c>; the adapter is 1-32 of <c>[a-z0-9-]</c>.</summary>
    public static ManagedSecretName ServiceOAuth(string adapter) => Build(ServicePrefix + adapter + "/oauth");

    /// <summary>Parses a managed name.</summary>
    public static bool TryParse(string? text, out ManagedSecretName name, out string error)
    {
        name = default;
        error = string.Empty;
        if (text is null || text.Length > SecretName.MaxLength) { error = "not a managed secret name"; return false; }
        ManagedKind? kind = null;
        if (text.StartsWith(ModelProviderPrefix, StringComparison.Ordinal) && Provider().IsMatch(text[ModelProviderPrefix.Length..]))
            kind = ManagedKind.ModelProvider;
        else if (text.StartsWith(UserTokenPrefix, StringComparison.Ordinal) && Label().IsMatch(text[UserTokenPrefix.Length..]))
            kind = ManagedKind.UserToken;
        else if (text.StartsWith(ServicePrefix, StringComparison.Ordinal) && text.EndsWith("/oauth", StringComparison.Ordinal)
                 && text.Length > ServicePrefix.Length + 6 && Adapter().IsMatch(text[ServicePrefix.Length..^6]))
            kind = ManagedKind.ServiceOAuth;
        if (kind is null)
        {
            error = $"'{SecretName.Shorten(text)}' is not a managed secret name (model-provider:<provider>, user/token/<label>, service/<adapter>/oauth)";
            return false;
        }
        name = new ManagedSecretName(SecretName.CreateManaged(text, kind.Value));
        return true;
    }

    private static ManagedSecretName Build(string text) =>
        TryParse(text, out var name, out var error) ? name : throw new ArgumentException(error, nameof(text));

    /// <inheritdoc />
    public override string ToString() => Name.ToString();

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex Provider();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex Label();

    [GeneratedRegex("^[a-z0-9][a-z0-9-]{0,31}$", RegexOptions.CultureInvariant)]
    private static partial Regex Adapter();
}

/// <summary>Writes a <see cref="SecretName"/> as its string; refuses invalid names when reading.</summary>
public sealed class SecretNameJsonConverter : JsonConverter<SecretName>
{
    /// <inheritdoc />
    public override SecretName Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        SecretName.TryParse(reader.GetString(), out var name, out var error) ? name : throw new JsonException(error);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, SecretName value, JsonSerializerOptions options) => writer.WriteStringValue(value.Value);
}

/// <summary>Writes a <see cref="ManagedSecretName"/> as its string; refuses other names when reading.</summary>
public sealed class ManagedSecretNameJsonConverter : JsonConverter<ManagedSecretName>
{
    /// <inheritdoc />
    public override ManagedSecretName Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        ManagedSecretName.TryParse(reader.GetString(), out var name, out var error) ? name : throw new JsonException(error);

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, ManagedSecretName value, JsonSerializerOptions options) => writer.WriteStringValue(value.Name.Value);
}
