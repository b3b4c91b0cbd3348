using System.Buffers;
using System.Collections.Immutable;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace KruxOS.Core.Audit;

/// <summary>
/// Removes secrets from call arguments before they reach the audit log (spec §10.3 step 7).
/// <list type="bullet">
/// <item>A property whose <em>name</em> looks like a secret has its whole value replaced by the string
/// <c>[REDACTED:&lt;name&gt;]</c>, whatever the value's type (objects and arrays included).</item>
/// <item>Every string value (and property name) anywhere in the tree has agent tokens (64 lower-case hex
/// characters not inside a longer hex run) and user tokens (<c>krx_user_…</c>) replaced by
/// <c>[REDACTED:token]</c>.</item>
/// </list>
/// Name matching: the name is split into lower-case words at <c>_</c>, <c>-</c>, <c>.</c>, spaces and
/// camelCase humps. It is secret when a pattern's words occur as consecutive words (<c>db_password</c>,
/// <c>privateKeyPem</c>, <c>X-Refresh-Token</c>), or when the name with separators removed ends with a
/// pattern (<c>githubtoken</c>, <c>xapikey</c>). A name whose last word only describes a secret
/// (<c>name</c>, <c>id</c>, <c>type</c>, <c>count</c> …: <c>secret_name</c>, <c>token_type</c>,
/// <c>token_count</c>) is kept, unless the whole name is a pattern. <c>max_tokens</c> and
/// <c>tokenizer</c> are not secrets (<c>tokens</c>/<c>tokenizer</c> are other words).
/// Sanitizing is idempotent.
/// </summary>
public static partial class InputSanitizer
{
    /// <summary>The secret field names of spec §10.3, plus the common spellings <c>apikey</c>, <c>passwd</c>, <c>credentials</c>, <c>cookie</c>.</summary>
    public static readonly ImmutableArray<string> SecretFieldPatterns =
    [
        "api_key", "apikey", "token", "password", "passwd", "secret", "credential", "credentials",
        "authorization", "private_key", "access_key", "refresh_token", "client_secret", "passphrase", "cookie",
    ];

    private static readonly ImmutableArray<string[]> PatternWords =
        [.. SecretFieldPatterns.Select(p => p.Split('_'))];

    private static readonly ImmutableArray<string> PatternsJoined =
        [.. SecretFieldPatterns.Select(p => p.Replace("_", "", StringComparison.Ordinal))];

    private static readonly FrozenWords DescriptiveLastWords = new(
        ["name", "names", "id", "ids", "type", "types", "count", "label", "labels", "ref", "hint", "length", "expiry", "expires", "ttl"]);

    /// <summary>The replacement for token-looking values.</summary>
    public const string TokenRedaction = "[REDACTED:token]";

    // Argument names repeat from call to call (path, content, command …): their verdict is remembered, up to
    // a bound, so the word splitting below runs once per distinct name.
    private const int MaxRememberedNames = 4096;
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> SecretNameVerdicts = new(StringComparer.Ordinal);
    private static int _rememberedNames; // ConcurrentDictionary.Count takes every lock: counted here instead

    /// <summary>Whether a property name looks like a secret.</summary>
    public static bool IsSecretFieldName(string name)
    {
        if (SecretNameVerdicts.TryGetValue(name, out var known)) return known;
        var verdict = DecideSecretFieldName(name);
        if (Volatile.Read(ref _rememberedNames) < MaxRememberedNames && SecretNameVerdicts.TryAdd(name, verdict))
            Interlocked.Increment(ref _rememberedNames);
        return verdict;
    }

    private static bool DecideSecretFieldName(string name)
    {
        var words = SplitWords(name);
        if (words.Count == 0) return false;
        var joined = string.Concat(words);
        if (PatternsJoined.Contains(joined)) return true;
        if (DescriptiveLastWords.Contains(words[^1])) return false;
        foreach (var pattern in PatternWords)
        {
            for (var i = 0; i + pattern.Length <= words.Count; i++)
            {
                var match = true;
                for (var j = 0; j < pattern.Length && match; j++) match = words[i + j] == pattern[j];
                if (match) return true;
            }
        }
        foreach (var p in PatternsJoined)
        {
            if (joined.EndsWith(p, StringComparison.Ordinal)) return true;
        }
        return false;
    }

    /// <summary>Replaces agent and user tokens inside a text.</summary>
    public static string RedactTokens(string text) =>
        text.Length < 9 ? text : TokenShape().Replace(text, TokenRedaction);

    /// <summary>Whether a text contains something that looks like a token.</summary>
    public static bool ContainsToken(string text) => TokenShape().IsMatch(text);

    /// <summary>Returns a sanitized copy of <paramref name="inputs"/> (a detached element).</summary>
    public static JsonElement Sanitize(JsonElement inputs)
    {
        if (inputs.ValueKind == JsonValueKind.Undefined) return CoreJson.EmptyObject;
        // Most arguments hold nothing to redact (and an entry is sanitized again when it is sealed): a read-only
        // pass decides whether the tree must be rewritten at all.
        if (IsClean(inputs)) return inputs.Clone();
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            Write(writer, inputs);
        }
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }

    private static void Write(Utf8JsonWriter w, JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteStartObject();
                foreach (var p in e.EnumerateObject())
                {
                    var name = RedactTokens(p.Name);
                    w.WritePropertyName(name);
                    if (IsSecretFieldName(p.Name) && !IsRedactionOf(p.Value, name))
                        w.WriteStringValue($"[REDACTED:{name}]");
                    else
                        Write(w, p.Value);
                }
                w.WriteEndObject();
                break;
            case JsonValueKind.Array:
                w.WriteStartArray();
                foreach (var item in e.EnumerateArray()) Write(w, item);
                w.WriteEndArray();
                break;
            case JsonValueKind.String:
                w.WriteStringValue(RedactTokens(e.GetString()!));
                break;
            default:
                e.WriteTo(w);
                break;
        }
    }

    // True when Write would reproduce the tree unchanged: no secret-named property (other than one already
    // redacted) and no token-looking text in a name or a string.
    private static bool IsClean(JsonElement e)
    {
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name.Length >= 9 && ContainsToken(p.Name)) return false;
                    if (IsSecretFieldName(p.Name) && !IsRedactionOf(p.Value, p.Name)) return false;
                    if (!IsClean(p.Value)) return false;
                }
                return true;
            case JsonValueKind.Array:
                foreach (var item in e.EnumerateArray())
                    if (!IsClean(item)) return false;
                return true;
            case JsonValueKind.String:
                var text = e.GetString()!;
                return text.Length < 9 || !ContainsToken(text);
            default:
                return true;
        }
    }

    // Keeps sanitizing idempotent: an already redacted value is left as it is.
    private static bool IsRedactionOf(JsonElement value, string name) =>
        value.ValueKind == JsonValueKind.String && value.ValueEquals($"[REDACTED:{name}]");

    private static List<string> SplitWords(string name)
    {
        var words = new List<string>(4);
        var current = new System.Text.StringBuilder();
        for (var i = 0; i < name.Length; i++)
        {
            var c = name[i];
            if (!char.IsLetterOrDigit(c))
            {
                Flush();
                continue;
            }
            // camelCase hump: lower/digit followed by upper starts a new word; so does the last upper of an
            // acronym followed by a lower ("APIKey" → "api", "key").
            if (char.IsUpper(c) && current.Length > 0 &&
                (!char.IsUpper(name[i - 1]) || (i + 1 < name.Length && char.IsLower(name[i + 1]))))
            {
                Flush();
            }
            current.Append(char.ToLowerInvariant(c));
        }
        Flush();
        return words;

        void Flush()
        {
            if (current.Length > 0) words.Add(current.ToString());
            current.Clear();
        }
    }

    [GeneratedRegex("(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])|krx_user_[A-Za-z0-9_\\-]+", RegexOptions.CultureInvariant)]
    private static partial Regex TokenShape();

    private sealed class FrozenWords(IEnumerable<string> words)
    {
        private readonly HashSet<string> _set = new(words, StringComparer.Ordinal);
        public bool Contains(string word) => _set.Contains(word);
    }
}
