using System.Globalization;
using System.Text;
using Tomlyn;
using Tomlyn.Model;
using Tomlyn.Parsing;
using Tomlyn.Syntax;

namespace KruxOS.Cli.CliConfig;

/// <summary>The file could not be merged without risking the user's settings; nothing is written.</summary>
public sealed class ConfigMergeException(string message) : Exception(message);

/// <summary>
/// Merges our TOML fragment into a user's file, touching only what the fragment owns: its top-level keys,
/// its keys inside shared tables (e.g. <c>[features]</c>), and whole tables under an owned prefix (e.g.
/// <c>mcp_servers.kruxos-gateway</c> with its subtables). Everything else — other keys, tables and
/// comments — is kept as written (the edit happens on Tomlyn's lossless syntax tree). The result is then
/// checked semantically against "the old document with our values laid over it"; any difference means the
/// file uses a form we do not edit (dotted keys, inline tables) and the merge is refused.
/// </summary>
public static class TomlMerge
{
    /// <summary>The merged text, or null when the file already holds exactly our values.</summary>
    public static string? Merge(string existing, string fragment, IReadOnlyList<string> ownedTables, string path)
    {
        if (existing.Length > 0 && !existing.EndsWith('\n')) existing += "\n";
        var doc = Parse(existing, path);
        var frag = Parse(fragment, "fragment");
        var owned = ownedTables.Select(Segments).ToList();

        RefuseForeignForms(doc, frag, owned, path);
        var before = Model(existing, path);
        var expected = Model(existing, path);
        foreach (var o in owned) RemovePath(expected, o);
        Overlay(expected, Model(fragment, "fragment"));
        if (Canonical(before) == Canonical(expected)) return null;

        // Top-level keys: ours replace theirs.
        var ourKeys = frag.KeyValues.Select(KeyOf).ToHashSet(StringComparer.Ordinal);
        for (var i = doc.KeyValues.ChildrenCount - 1; i >= 0; i--)
            if (ourKeys.Contains(KeyOf(doc.KeyValues.GetChild(i)!))) doc.KeyValues.RemoveChildAt(i);
        while (frag.KeyValues.ChildrenCount > 0)
        {
            var kv = frag.KeyValues.GetChild(0)!;
            frag.KeyValues.RemoveChildAt(0);
            doc.KeyValues.Add(kv);
        }

        // Owned tables go away entirely (with their subtables) before ours are added.
        for (var i = doc.Tables.ChildrenCount - 1; i >= 0; i--)
        {
            var name = TableName(doc.Tables.GetChild(i)!);
            if (owned.Any(o => StartsWith(name, o))) doc.Tables.RemoveChildAt(i);
        }

        while (frag.Tables.ChildrenCount > 0)
        {
            var table = frag.Tables.GetChild(0)!;
            frag.Tables.RemoveChildAt(0);
            var name = TableName(table);
            var shared = owned.Any(o => StartsWith(name, o)) ? null
                : doc.Tables.OfType<TableSyntax>().FirstOrDefault(t => table is TableSyntax && TableName(t).SequenceEqual(name));
            if (shared is null)
            {
                doc.Tables.Add(table);
                continue;
            }
            var keys = table.Items.Select(KeyOf).ToHashSet(StringComparer.Ordinal);
            for (var i = shared.Items.ChildrenCount - 1; i >= 0; i--)
                if (keys.Contains(KeyOf(shared.Items.GetChild(i)!))) shared.Items.RemoveChildAt(i);
            while (table.Items.ChildrenCount > 0)
            {
                var kv = table.Items.GetChild(0)!;
                table.Items.RemoveChildAt(0);
                shared.Items.Add(kv);
            }
        }

        var merged = doc.ToString();
        if (Canonical(Model(merged, path)) != Canonical(expected))
            throw new ConfigMergeException($"{path}: it sets some of our keys in a form cli-config does not edit (dotted keys or inline tables); " +
                "move them into [table] sections or remove them, then run again");
        return merged;
    }

    /// <summary>
    /// Refuses keys that define one of our tables without its <c>[header]</c> (dotted keys such as
    /// <c>features.hooks</c>, or an inline <c>kruxos-gateway = {…}</c>): adding our header next to them would
    /// make the file invalid for the client, and removing them would edit the user's lines we do not own.
    /// </summary>
    private static void RefuseForeignForms(DocumentSyntax doc, DocumentSyntax frag, List<List<string>> owned, string path)
    {
        var ours = frag.Tables.Select(TableName).ToList();
        var keyed = doc.KeyValues.Select(kv => (Table: new List<string>(), Kv: kv))
            .Concat(doc.Tables.SelectMany(t => t.Items.Select(kv => (Table: TableName(t), Kv: kv))));
        foreach (var (table, kv) in keyed)
        {
            var segments = KeySegments(kv.Key!);
            var full = table.Concat(segments).ToList();
            var parent = full[..^1];
            var dottedIntoOurs = segments.Count > 1 && ours.Any(o => StartsWith(parent, o));
            var insideOwned = owned.Any(o => StartsWith(full, o)) && !owned.Any(o => StartsWith(table, o));
            if (dottedIntoOurs || insideOwned)
                throw new ConfigMergeException($"{path}: '{string.Join('.', full)}' sets one of cli-config's tables through a dotted key or an inline table; " +
                    "move it under a [table] header or remove it, then run again");
        }
    }

    /// <summary>Parses a document, refusing one with syntax errors.</summary>
    private static DocumentSyntax Parse(string text, string path)
    {
        DocumentSyntax doc;
        // Tomlyn stops at 64 levels of nesting with an exception rather than a diagnostic.
        try { doc = SyntaxParser.Parse(text, path, true); }
        catch (TomlException e) { throw new ConfigMergeException($"{path} is not valid TOML, so it is left alone: {e.Message}"); }
        if (doc.HasErrors)
            throw new ConfigMergeException($"{path} is not valid TOML, so it is left alone: {string.Join("; ", doc.Diagnostics.Select(d => d.ToString()).Take(3))}");
        return doc;
    }

    private static TomlTable Model(string text, string path)
    {
        try { return TomlSerializer.Deserialize<TomlTable>(text) ?? new TomlTable(); }
        catch (TomlException e) { throw new ConfigMergeException($"{path} is not valid TOML, so it is left alone: {e.Message}"); }
    }

    private static string KeyOf(KeyValueSyntax kv) => string.Join('.', KeySegments(kv.Key!));

    private static List<string> TableName(TableSyntaxBase t) => KeySegments(t.Name!);

    private static List<string> KeySegments(KeySyntax key)
    {
        var list = new List<string> { Segment(key.Key!) };
        foreach (var d in key.DotKeys) list.Add(Segment(d.Key!));
        return list;
    }

    private static string Segment(BareKeyOrStringValueSyntax s) => s switch
    {
        BareKeySyntax b => b.Key!.Text!,
        StringValueSyntax v => v.Value!,
        _ => s.ToString()!.Trim(),
    };

    private static List<string> Segments(string dotted) => [.. dotted.Split('.')];

    private static bool StartsWith(List<string> name, List<string> prefix) =>
        name.Count >= prefix.Count && name.Take(prefix.Count).SequenceEqual(prefix, StringComparer.Ordinal);

    private static void RemovePath(TomlTable table, List<string> path)
    {
        for (var i = 0; i < path.Count - 1; i++)
        {
            if (!table.TryGetValue(path[i], out var next) || next is not TomlTable t) return;
            table = t;
        }
        table.Remove(path[^1]);
    }

    /// <summary>Lays <paramref name="ours"/> over <paramref name="target"/>: tables merge, everything else is replaced.</summary>
    private static void Overlay(TomlTable target, TomlTable ours)
    {
        foreach (var (key, value) in ours)
        {
            if (value is TomlTable sub && target.TryGetValue(key, out var existing) && existing is TomlTable into) Overlay(into, sub);
            else target[key] = value!;
        }
    }

    /// <summary>An order-insensitive text form of a model, for comparing two documents' meaning.</summary>
    public static string Canonical(object? value)
    {
        var sb = new StringBuilder();
        Write(sb, value);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? value)
    {
        switch (value)
        {
            case TomlTable t:
                sb.Append('{');
                foreach (var (k, v) in t.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                {
                    sb.Append(System.Text.Json.JsonSerializer.Serialize(k)).Append(':');
                    Write(sb, v);
                    sb.Append(',');
                }
                sb.Append('}');
                break;
            case TomlTableArray ta:
                sb.Append("[[");
                foreach (var t in ta) { Write(sb, t); sb.Append(','); }
                sb.Append("]]");
                break;
            case System.Collections.IEnumerable e and not string:
                sb.Append('[');
                foreach (var item in e) { Write(sb, item); sb.Append(','); }
                sb.Append(']');
                break;
            case string s:
                sb.Append(System.Text.Json.JsonSerializer.Serialize(s));
                break;
            case IFormattable f:
                sb.Append(value.GetType().Name).Append(':').Append(f.ToString(null, CultureInfo.InvariantCulture));
                break;
            default:
                sb.Append(value?.GetType().Name ?? "null").Append(':').Append(value);
                break;
        }
    }
}
