using System.Collections.Immutable;
using System.Text.Json;

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
public static class InputSanitizer
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
    private const int MaxRememberedNameLength = 64; // a caller's 2 MiB key is decided, never kept
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> SecretNameVerdicts = new(StringComparer.Ordinal);
    private static int _rememberedNames; // ConcurrentDictionary.Count takes every lock: counted here instead

    /// <summary>Whether a property name looks like a secret.</summary>
    public static bool IsSecretFieldName(string name)
    {
        if (SecretNameVerdicts.TryGetValue(name, out var known)) return known;
        var verdict = DecideSecretFieldName(name);
        if (name.Length <= MaxRememberedNameLength && Volatile.Read(ref _rememberedNames) < MaxRememberedNames && SecretNameVerdicts.TryAdd(name, verdict))
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

    /// <summary>
    /// Replaces agent and user tokens inside a text: a run of exactly 64 lower-case hex characters (not part of a
    /// longer run), and <c>krx_user_</c> followed by one or more of <c>A-Z a-z 0-9 _ -</c>. The same instance when there
    /// is none. One linear scan (a backtracking pattern took seconds over a few MiB of hex).
    /// </summary>
    public static string RedactTokens(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length < 9 || !NextToken(text, 0, out var start, out var end)) return text;
        var sb = new System.Text.StringBuilder(text.Length);
        var copied = 0;
        do
        {
            sb.Append(text, copied, start - copied).Append(TokenRedaction);
            copied = end;
        }
        while (NextToken(text, end, out start, out end));
        return sb.Append(text, copied, text.Length - copied).ToString();
    }

    /// <summary>Whether a text contains something that looks like a token (see <see cref="RedactTokens"/>).</summary>
    public static bool ContainsToken(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.Length >= 9 && NextToken(text, 0, out _, out _);
    }

    private const string UserTokenPrefix = "krx_user_";

    // The first token at or after `from`: [start, end). `from` is always at the start of a text or right after a
    // token, and neither is inside a hex run (a user token ends before a character that is not hex-compatible).
    private static bool NextToken(string text, int from, out int start, out int end)
    {
        var s = text.AsSpan();
        var i = from;
        while (i < s.Length)
        {
            var next = s[i..].IndexOfAny(TokenStarts);
            if (next < 0) break;
            i += next;
            var c = s[i];
            if (IsLowerHex(c))
            {
                var run = i;
                var after = s[i..].IndexOfAnyExcept(LowerHex);
                i = after < 0 ? s.Length : i + after;
                if (i - run == 64)
                {
                    (start, end) = (run, i);
                    return true;
                }
                continue;
            }
            if (c == 'k' && s[i..].StartsWith(UserTokenPrefix, StringComparison.Ordinal) && i + UserTokenPrefix.Length < s.Length
                && IsUserTokenChar(s[i + UserTokenPrefix.Length]))
            {
                start = i;
                i += UserTokenPrefix.Length;
                while (i < s.Length && IsUserTokenChar(s[i])) i++;
                end = i;
                return true;
            }
            i++;
        }
        start = end = 0;
        return false;
    }

    private static readonly System.Buffers.SearchValues<char> TokenStarts = System.Buffers.SearchValues.Create("0123456789abcdefk");
    private static readonly System.Buffers.SearchValues<char> LowerHex = System.Buffers.SearchValues.Create("0123456789abcdef");

    private static bool IsLowerHex(char c) => char.IsAsciiDigit(c) || c is >= 'a' and <= 'f';

    private static bool IsUserTokenChar(char c) => char.IsAsciiLetterOrDigit(c) || c is '_' or '-';

    /// <summary>
    /// Returns a sanitized copy of <paramref name="inputs"/> (a detached element). Total: a string that is not valid
    /// Unicode (an escaped lone surrogate) has U+FFFD in its place, and a subtree nested deeper than
    /// <see cref="JsonScrubber.UnboundedDepth"/> levels is replaced by a text giving its size. No size limit applies here:
    /// the audit log applies its own (<see cref="AuditLimits"/>) when an entry is prepared.
    /// </summary>
    public static JsonElement Sanitize(JsonElement inputs) => JsonScrubber.Redact(inputs);

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

    private sealed class FrozenWords(IEnumerable<string> words)
    {
        private readonly HashSet<string> _set = new(words, StringComparer.Ordinal);
        public bool Contains(string word) => _set.Contains(word);
    }
}
