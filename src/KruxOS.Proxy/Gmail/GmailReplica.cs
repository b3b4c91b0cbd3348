using System.Collections.Immutable;
using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace KruxOS.Proxy.Gmail;

/// <summary>A stored body with the time it was fetched.</summary>
public sealed record CachedBody(string? TextPlain, string? TextHtml, DateTimeOffset CachedAt);

/// <summary>
/// The Gmail adapter's tables in the replica (<c>&lt;data&gt;/proxy/gmail/sync.db</c>): <c>gmail_messages</c> (metadata,
/// labels, read state, attachments flag), <c>gmail_labels</c>, <c>gmail_bodies</c> (a body fetched once by
/// <c>email.read</c>, then served from here). All statements are parameterised; writes are upserts so a repeated sync is
/// harmless. Labels are stored as <c>,A,B,</c> so an exact label matches with <c>instr</c>, never with LIKE patterns.
/// </summary>
public static class GmailReplica
{
    /// <summary>Creates the tables when missing.</summary>
    public static async Task EnsureSchemaAsync(SqliteConnection c, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = """
            CREATE TABLE IF NOT EXISTS gmail_messages (
              id TEXT PRIMARY KEY, thread_id TEXT NOT NULL, from_addr TEXT NOT NULL, to_addr TEXT NOT NULL, subject TEXT NOT NULL,
              snippet TEXT NOT NULL, labels TEXT NOT NULL, date_ms INTEGER NOT NULL, is_read INTEGER NOT NULL,
              has_attachments INTEGER NOT NULL, message_id_header TEXT, synced_at_ms INTEGER NOT NULL);
            CREATE INDEX IF NOT EXISTS gmail_messages_date ON gmail_messages(date_ms DESC);
            CREATE TABLE IF NOT EXISTS gmail_labels (id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS gmail_bodies (message_id TEXT PRIMARY KEY, text_plain TEXT, text_html TEXT, cached_at_ms INTEGER NOT NULL);
            """;
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Inserts or replaces a message's metadata (its cached body stays: bodies do not change).</summary>
    public static async Task UpsertAsync(SqliteConnection c, SqliteTransaction? tx, GmailMessageMeta m, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = """
            INSERT INTO gmail_messages (id, thread_id, from_addr, to_addr, subject, snippet, labels, date_ms, is_read, has_attachments, message_id_header, synced_at_ms)
            VALUES ($id, $thread, $from, $to, $subject, $snippet, $labels, $date, $read, $att, $mid, $now)
            ON CONFLICT(id) DO UPDATE SET thread_id=excluded.thread_id, from_addr=excluded.from_addr, to_addr=excluded.to_addr,
              subject=excluded.subject, snippet=excluded.snippet, labels=excluded.labels, date_ms=excluded.date_ms, is_read=excluded.is_read,
              has_attachments=excluded.has_attachments, message_id_header=excluded.message_id_header, synced_at_ms=excluded.synced_at_ms
            """;
        cmd.Parameters.AddWithValue("$id", m.Id);
        cmd.Parameters.AddWithValue("$thread", m.ThreadId);
        cmd.Parameters.AddWithValue("$from", m.From);
        cmd.Parameters.AddWithValue("$to", m.To);
        cmd.Parameters.AddWithValue("$subject", m.Subject);
        cmd.Parameters.AddWithValue("$snippet", m.Snippet);
        cmd.Parameters.AddWithValue("$labels", LabelText(m.Labels));
        cmd.Parameters.AddWithValue("$date", m.Date.ToUnixTimeMilliseconds());
        cmd.Parameters.AddWithValue("$read", m.IsRead ? 1 : 0);
        cmd.Parameters.AddWithValue("$att", m.HasAttachments ? 1 : 0);
        cmd.Parameters.AddWithValue("$mid", (object?)m.MessageIdHeader ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Removes a message and its cached body.</summary>
    public static async Task DeleteAsync(SqliteConnection c, SqliteTransaction? tx, string id, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DELETE FROM gmail_messages WHERE id = $id; DELETE FROM gmail_bodies WHERE message_id = $id;";
        cmd.Parameters.AddWithValue("$id", id);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Replaces the label list.</summary>
    public static async Task ReplaceLabelsAsync(SqliteConnection c, SqliteTransaction? tx, IEnumerable<(string Id, string Name, string Type)> labels, CancellationToken ct)
    {
        await using (var del = c.CreateCommand())
        {
            del.Transaction = tx;
            del.CommandText = "DELETE FROM gmail_labels";
            await del.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        foreach (var (id, name, type) in labels)
        {
            await using var cmd = c.CreateCommand();
            cmd.Transaction = tx;
            cmd.CommandText = "INSERT OR REPLACE INTO gmail_labels (id, name, type) VALUES ($id, $name, $type)";
            cmd.Parameters.AddWithValue("$id", id);
            cmd.Parameters.AddWithValue("$name", name);
            cmd.Parameters.AddWithValue("$type", type);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
    }

    /// <summary>Deletes every Gmail row (a full resync after the history expired).</summary>
    public static async Task ClearAsync(SqliteConnection c, SqliteTransaction? tx, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = "DELETE FROM gmail_messages; DELETE FROM gmail_bodies; DELETE FROM gmail_labels;";
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Messages held.</summary>
    public static async Task<long> CountAsync(SqliteConnection c, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM gmail_messages";
        return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? 0L);
    }

    /// <summary>Resolves a label given by id or by name (exact, names case-insensitively) to its id; the text itself when unknown.</summary>
    public static async Task<string> LabelIdAsync(SqliteConnection c, string label, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT id FROM gmail_labels WHERE id = $l UNION ALL SELECT id FROM gmail_labels WHERE lower(name) = lower($l) LIMIT 1";
        cmd.Parameters.AddWithValue("$l", label);
        return await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) as string ?? label;
    }

    /// <summary>
    /// <c>email.search</c>: substring (case-insensitive) over from/to/subject/snippet, exact label, read state; newest
    /// first; messages in Trash or Spam only when that label is asked for.
    /// </summary>
    public static async Task<(ImmutableArray<GmailMessageMeta> Messages, long Total)> SearchAsync(SqliteConnection c, string? query, string? labelId,
        bool? isRead, int limit, int offset, CancellationToken ct)
    {
        var where = new List<string>();
        await using var cmd = c.CreateCommand();
        if (!string.IsNullOrEmpty(query))
        {
            where.Add("(instr(lower(from_addr), lower($q)) > 0 OR instr(lower(to_addr), lower($q)) > 0 OR instr(lower(subject), lower($q)) > 0 OR instr(lower(snippet), lower($q)) > 0)");
            cmd.Parameters.AddWithValue("$q", query);
        }
        if (!string.IsNullOrEmpty(labelId))
        {
            where.Add("instr(labels, $label) > 0");
            cmd.Parameters.AddWithValue("$label", "," + labelId + ",");
        }
        if (labelId is not ("TRASH" or "SPAM")) where.Add("instr(labels, ',TRASH,') = 0 AND instr(labels, ',SPAM,') = 0");
        if (isRead is { } r)
        {
            where.Add("is_read = $read");
            cmd.Parameters.AddWithValue("$read", r ? 1 : 0);
        }
        var filter = where.Count == 0 ? "" : " WHERE " + string.Join(" AND ", where);
        cmd.CommandText = "SELECT count(*) FROM gmail_messages" + filter;
        var total = (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false) ?? 0L);
        cmd.CommandText = "SELECT " + Columns + " FROM gmail_messages" + filter + " ORDER BY date_ms DESC, id DESC LIMIT $limit OFFSET $offset";
        cmd.Parameters.AddWithValue("$limit", limit);
        cmd.Parameters.AddWithValue("$offset", offset);
        var list = ImmutableArray.CreateBuilder<GmailMessageMeta>();
        await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            while (await reader.ReadAsync(ct).ConfigureAwait(false)) list.Add(Read(reader));
        return (list.ToImmutable(), total);
    }

    /// <summary>One message's metadata, or null.</summary>
    public static async Task<GmailMessageMeta?> GetAsync(SqliteConnection c, string id, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT " + Columns + " FROM gmail_messages WHERE id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await reader.ReadAsync(ct).ConfigureAwait(false) ? Read(reader) : null;
    }

    /// <summary>The cached body, or null.</summary>
    public static async Task<CachedBody?> GetBodyAsync(SqliteConnection c, string id, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "SELECT text_plain, text_html, cached_at_ms FROM gmail_bodies WHERE message_id = $id";
        cmd.Parameters.AddWithValue("$id", id);
        await using var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        if (!await reader.ReadAsync(ct).ConfigureAwait(false)) return null;
        return new CachedBody(reader.IsDBNull(0) ? null : reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1),
            DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)));
    }

    /// <summary>Caches a body.</summary>
    public static async Task SaveBodyAsync(SqliteConnection c, string id, GmailBody body, DateTimeOffset now, CancellationToken ct)
    {
        await using var cmd = c.CreateCommand();
        cmd.CommandText = "INSERT OR REPLACE INTO gmail_bodies (message_id, text_plain, text_html, cached_at_ms) VALUES ($id, $p, $h, $now)";
        cmd.Parameters.AddWithValue("$id", id);
        cmd.Parameters.AddWithValue("$p", (object?)body.TextPlain ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$h", (object?)body.TextHtml ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The metadata as the capability output's message object.</summary>
    public static Dictionary<string, object?> ToOutput(GmailMessageMeta m) => new()
    {
        ["id"] = m.Id, ["thread_id"] = m.ThreadId, ["from"] = m.From, ["to"] = m.To, ["subject"] = m.Subject, ["snippet"] = m.Snippet,
        ["labels"] = m.Labels, ["date"] = m.Date.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture),
        ["is_read"] = m.IsRead, ["has_attachments"] = m.HasAttachments,
    };

    private const string Columns = "id, thread_id, from_addr, to_addr, subject, snippet, labels, date_ms, is_read, has_attachments, message_id_header";

    private static GmailMessageMeta Read(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.GetString(5),
        [.. r.GetString(6).Split(',', StringSplitOptions.RemoveEmptyEntries)], DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)),
        r.GetInt64(8) != 0, r.GetInt64(9) != 0, r.IsDBNull(10) ? null : r.GetString(10));

    private static string LabelText(ImmutableArray<string> labels) => "," + string.Join(',', labels) + ",";

    /// <summary>Reads a JSON string array property (absent → empty).</summary>
    internal static ImmutableArray<string> Strings(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array
            ? [.. a.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!)]
            : [];
}
