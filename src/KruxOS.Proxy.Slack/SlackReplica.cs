using System.Globalization;
using System.Text;
using System.Text.Json;
using KruxOS.Core.Slack;
using Microsoft.Data.Sqlite;

namespace KruxOS.Proxy.Slack;

/// <summary>A message as the replica holds it (what <c>slack.search</c> and <c>slack.read</c> return).</summary>
public sealed record ReplicaMessage(string ChannelId, string Ts, string UserId, string UserName, string Text, string? ThreadTs,
    IReadOnlyList<SlackReaction> Reactions, string SyncedAt)
{
    /// <summary>The <c>slack.read</c> id, <c>"&lt;channel_id&gt;/&lt;ts&gt;"</c>.</summary>
    public string Id => SlackIds.MessageId(ChannelId, Ts);
}

/// <summary>A channel as the replica holds it.</summary>
public sealed record ReplicaChannel(string Id, string Name, string Topic, int MemberCount, bool IsPrivate, string SyncedAt);

/// <summary>
/// The Slack adapter's tables in the replica file (<c>&lt;data&gt;/proxy/slack/sync.db</c>): channels, users, messages
/// (with <c>thread_ts</c>, reactions as JSON, <c>synced_at</c>). Every write is an upsert, so a sync repeated after a crash
/// changes nothing twice; every read is parameterised SQL (no agent text is ever part of a statement).
/// </summary>
public static class SlackReplica
{
    private const string Schema = """
        CREATE TABLE IF NOT EXISTS slack_channels (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, topic TEXT NOT NULL, member_count INTEGER NOT NULL,
            is_private INTEGER NOT NULL, synced_at TEXT NOT NULL) STRICT;
        CREATE TABLE IF NOT EXISTS slack_users (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, real_name TEXT NOT NULL, synced_at TEXT NOT NULL) STRICT;
        CREATE TABLE IF NOT EXISTS slack_messages (
            channel_id TEXT NOT NULL, ts TEXT NOT NULL, ts_us INTEGER NOT NULL, user_id TEXT NOT NULL, text TEXT NOT NULL,
            thread_ts TEXT, reply_count INTEGER NOT NULL, latest_reply TEXT, reactions TEXT NOT NULL, synced_at TEXT NOT NULL,
            PRIMARY KEY (channel_id, ts)) STRICT;
        CREATE INDEX IF NOT EXISTS slack_messages_time ON slack_messages (ts_us);
        CREATE INDEX IF NOT EXISTS slack_messages_thread ON slack_messages (channel_id, thread_ts);
        """;

    /// <summary>Creates the tables when missing.</summary>
    public static async Task EnsureSchemaAsync(SqliteConnection db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand();
        cmd.CommandText = Schema;
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Upserts channels and drops those no longer listed (with their messages).</summary>
    public static async Task ReplaceChannelsAsync(SqliteConnection db, IReadOnlyList<SlackChannel> channels, DateTimeOffset now, CancellationToken ct)
    {
        await using var tx = (SqliteTransaction)await db.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var c in channels)
            await ExecAsync(db, tx, """
                INSERT INTO slack_channels (id, name, topic, member_count, is_private, synced_at) VALUES ($id, $name, $topic, $members, $private, $at)
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, topic = excluded.topic, member_count = excluded.member_count,
                    is_private = excluded.is_private, synced_at = excluded.synced_at
                """, ct, ("$id", c.Id), ("$name", c.Name), ("$topic", c.Topic), ("$members", c.MemberCount), ("$private", c.IsPrivate ? 1 : 0), ("$at", Text(now)))
                .ConfigureAwait(false);
        var keep = channels.Select(c => c.Id).ToHashSet(StringComparer.Ordinal);
        var existing = new List<string>();
        await using (var cmd = db.CreateCommand())
        {
            cmd.Transaction = tx;
            cmd.CommandText = "SELECT id FROM slack_channels";
            await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) existing.Add(r.GetString(0));
        }
        foreach (var gone in existing.Where(id => !keep.Contains(id)))
        {
            await ExecAsync(db, tx, "DELETE FROM slack_channels WHERE id = $id", ct, ("$id", gone)).ConfigureAwait(false);
            await ExecAsync(db, tx, "DELETE FROM slack_messages WHERE channel_id = $id", ct, ("$id", gone)).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Upserts users.</summary>
    public static async Task UpsertUsersAsync(SqliteConnection db, IReadOnlyList<SlackUser> users, DateTimeOffset now, CancellationToken ct)
    {
        if (users.Count == 0) return;
        await using var tx = (SqliteTransaction)await db.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var u in users)
            await ExecAsync(db, tx, """
                INSERT INTO slack_users (id, name, real_name, synced_at) VALUES ($id, $name, $real, $at)
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, real_name = excluded.real_name, synced_at = excluded.synced_at
                """, ct, ("$id", u.Id), ("$name", u.Name), ("$real", u.RealName), ("$at", Text(now))).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Upserts messages (a message already held is updated: text, reactions, reply count).</summary>
    public static async Task UpsertMessagesAsync(SqliteConnection db, IReadOnlyList<SlackMessage> messages, DateTimeOffset now, CancellationToken ct)
    {
        if (messages.Count == 0) return;
        await using var tx = (SqliteTransaction)await db.BeginTransactionAsync(ct).ConfigureAwait(false);
        foreach (var m in messages)
        {
            if (!SlackIds.TryTsMicros(m.Ts, out var micros)) continue;
            await ExecAsync(db, tx, """
                INSERT INTO slack_messages (channel_id, ts, ts_us, user_id, text, thread_ts, reply_count, latest_reply, reactions, synced_at)
                VALUES ($c, $ts, $us, $user, $text, $thread, $replies, $latest, $reactions, $at)
                ON CONFLICT (channel_id, ts) DO UPDATE SET user_id = excluded.user_id, text = excluded.text, thread_ts = excluded.thread_ts,
                    reply_count = excluded.reply_count, latest_reply = excluded.latest_reply, reactions = excluded.reactions, synced_at = excluded.synced_at
                """, ct, ("$c", m.ChannelId), ("$ts", m.Ts), ("$us", micros), ("$user", m.UserId), ("$text", m.Text), ("$thread", m.ThreadTs),
                ("$replies", m.ReplyCount), ("$latest", m.LatestReply), ("$reactions", ReactionsJson(m.Reactions)), ("$at", Text(now))).ConfigureAwait(false);
        }
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The channels held, by name.</summary>
    public static async Task<IReadOnlyList<ReplicaChannel>> ChannelsAsync(SqliteConnection db, CancellationToken ct)
    {
        await EnsureSchemaAsync(db, ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT id, name, topic, member_count, is_private, synced_at FROM slack_channels ORDER BY name COLLATE NOCASE, id";
        var list = new List<ReplicaChannel>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            list.Add(new ReplicaChannel(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt32(3), r.GetInt64(4) != 0, r.GetString(5)));
        return list;
    }

    /// <summary>How many messages the replica holds.</summary>
    public static async Task<long> CountMessagesAsync(SqliteConnection db, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "SELECT count(*) FROM slack_messages";
        return Convert.ToInt64(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    /// <summary>User ids that messages name but the users table lacks (at most <paramref name="max"/>).</summary>
    public static async Task<IReadOnlyList<string>> UnknownUsersAsync(SqliteConnection db, int max, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand();
        cmd.CommandText = """
            SELECT DISTINCT m.user_id FROM slack_messages m LEFT JOIN slack_users u ON u.id = m.user_id
            WHERE u.id IS NULL AND m.user_id <> '' LIMIT $max
            """;
        cmd.Parameters.AddWithValue("$max", max);
        var list = new List<string>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
            if (SlackIds.IsUserId(r.GetString(0)) && r.GetString(0)[0] != 'B') list.Add(r.GetString(0));
        return list;
    }

    /// <summary>
    /// Threads of a channel worth refreshing: parents with replies whose last activity is after <paramref name="sinceMicros"/>,
    /// most recent first, with the newest reply held (the <c>oldest</c> of the refresh).
    /// </summary>
    public static async Task<IReadOnlyList<(string ThreadTs, string? NewestReply)>> ActiveThreadsAsync(SqliteConnection db, string channelId, long sinceMicros, int max, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand();
        cmd.CommandText = """
            SELECT p.ts, (SELECT max(r.ts_us) FROM slack_messages r WHERE r.channel_id = p.channel_id AND r.thread_ts = p.ts AND r.ts <> p.ts) AS newest,
                   (SELECT r.ts FROM slack_messages r WHERE r.channel_id = p.channel_id AND r.thread_ts = p.ts AND r.ts <> p.ts ORDER BY r.ts_us DESC LIMIT 1)
            FROM slack_messages p
            WHERE p.channel_id = $c AND p.thread_ts = p.ts AND p.reply_count > 0
            ORDER BY coalesce(newest, p.ts_us) DESC LIMIT $max
            """;
        cmd.Parameters.AddWithValue("$c", channelId);
        cmd.Parameters.AddWithValue("$max", max);
        var list = new List<(string, string?)>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false))
        {
            var activity = r.IsDBNull(1) ? 0 : r.GetInt64(1);
            if (activity < sinceMicros && SlackIds.TryTsMicros(r.GetString(0), out var parent) && parent < sinceMicros) continue;
            list.Add((r.GetString(0), r.IsDBNull(2) ? null : r.GetString(2)));
        }
        return list;
    }

    /// <summary>Sets a message's reactions after an immediate react/remove_react (keeps reads current until the next sync).</summary>
    public static async Task<bool> ApplyReactionAsync(SqliteConnection db, string channelId, string ts, string name, string userId, bool add, CancellationToken ct)
    {
        await EnsureSchemaAsync(db, ct).ConfigureAwait(false);
        var message = await MessageAsync(db, channelId, ts, ct).ConfigureAwait(false);
        if (message is null) return false;
        var reactions = message.Reactions.ToList();
        var i = reactions.FindIndex(r => r.Name == name);
        if (add)
        {
            if (i < 0) reactions.Add(new SlackReaction(name, 1, [userId]));
            else if (!reactions[i].Users.Contains(userId)) reactions[i] = new SlackReaction(name, reactions[i].Count + 1, [.. reactions[i].Users, userId]);
        }
        else if (i >= 0 && reactions[i].Users.Contains(userId))
        {
            var users = reactions[i].Users.Where(u => u != userId).ToList();
            if (reactions[i].Count <= 1) reactions.RemoveAt(i);
            else reactions[i] = new SlackReaction(name, reactions[i].Count - 1, users);
        }
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "UPDATE slack_messages SET reactions = $r WHERE channel_id = $c AND ts = $ts";
        cmd.Parameters.AddWithValue("$r", ReactionsJson(reactions));
        cmd.Parameters.AddWithValue("$c", channelId);
        cmd.Parameters.AddWithValue("$ts", ts);
        return await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
    }

    /// <summary>Drops a message (a rolled-back send) from the replica.</summary>
    public static async Task DeleteMessageAsync(SqliteConnection db, string channelId, string ts, CancellationToken ct)
    {
        await EnsureSchemaAsync(db, ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = "DELETE FROM slack_messages WHERE channel_id = $c AND ts = $ts";
        cmd.Parameters.AddWithValue("$c", channelId);
        cmd.Parameters.AddWithValue("$ts", ts);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    private const string MessageColumns = """
        m.channel_id, m.ts, m.user_id, coalesce(u.name, ''), m.text, m.thread_ts, m.reactions, m.synced_at
        FROM slack_messages m LEFT JOIN slack_users u ON u.id = m.user_id
        """;

    /// <summary>One message, or null.</summary>
    public static async Task<ReplicaMessage?> MessageAsync(SqliteConnection db, string channelId, string ts, CancellationToken ct)
    {
        await EnsureSchemaAsync(db, ct).ConfigureAwait(false);
        await using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT {MessageColumns} WHERE m.channel_id = $c AND m.ts = $ts";
        cmd.Parameters.AddWithValue("$c", channelId);
        cmd.Parameters.AddWithValue("$ts", ts);
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        return await r.ReadAsync(ct).ConfigureAwait(false) ? ReadMessage(r) : null;
    }

    /// <summary>The replies of a thread (not the parent), ts ascending (at most 1000).</summary>
    public static async Task<IReadOnlyList<ReplicaMessage>> RepliesAsync(SqliteConnection db, string channelId, string threadTs, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT {MessageColumns} WHERE m.channel_id = $c AND m.thread_ts = $t AND m.ts <> $t ORDER BY m.ts_us ASC LIMIT 1000";
        cmd.Parameters.AddWithValue("$c", channelId);
        cmd.Parameters.AddWithValue("$t", threadTs);
        var list = new List<ReplicaMessage>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(ReadMessage(r));
        return list;
    }

    /// <summary><c>slack.search</c>: the matching messages, newest first, and how many match in all.</summary>
    public static async Task<(IReadOnlyList<ReplicaMessage> Messages, long Total)> SearchAsync(SqliteConnection db, SlackSearchFilter f, CancellationToken ct)
    {
        await EnsureSchemaAsync(db, ct).ConfigureAwait(false);
        var where = new StringBuilder("WHERE 1 = 1");
        var parameters = new List<(string, object?)>();
        if (f.ChannelId is not null) { where.Append(" AND m.channel_id = $cid"); parameters.Add(("$cid", f.ChannelId)); }
        if (f.ChannelName is not null)
        {
            where.Append(" AND m.channel_id IN (SELECT id FROM slack_channels WHERE lower(name) = $cname)");
            parameters.Add(("$cname", f.ChannelName));
        }
        if (f.UserId is not null) { where.Append(" AND m.user_id = $uid"); parameters.Add(("$uid", f.UserId)); }
        if (f.UserName is not null)
        {
            where.Append(" AND (instr(lower(coalesce(u.name, '')), $uname) > 0 OR instr(lower(coalesce(u.real_name, '')), $uname) > 0)");
            parameters.Add(("$uname", f.UserName));
        }
        if (f.Query is not null) { where.Append(" AND instr(lower(m.text), $q) > 0"); parameters.Add(("$q", f.Query)); }
        if (f.FromMicros is { } from) { where.Append(" AND m.ts_us >= $from"); parameters.Add(("$from", from)); }
        if (f.ToMicros is { } to) { where.Append(" AND m.ts_us <= $to"); parameters.Add(("$to", to)); }

        long total;
        await using (var count = db.CreateCommand())
        {
            count.CommandText = $"SELECT count(*) FROM slack_messages m LEFT JOIN slack_users u ON u.id = m.user_id {where}";
            foreach (var (k, v) in parameters) count.Parameters.AddWithValue(k, v ?? DBNull.Value);
            total = Convert.ToInt64(await count.ExecuteScalarAsync(ct).ConfigureAwait(false), CultureInfo.InvariantCulture);
        }
        await using var cmd = db.CreateCommand();
        cmd.CommandText = $"SELECT {MessageColumns} {where} ORDER BY m.ts_us DESC, m.channel_id LIMIT $limit OFFSET $offset";
        foreach (var (k, v) in parameters) cmd.Parameters.AddWithValue(k, v ?? DBNull.Value);
        cmd.Parameters.AddWithValue("$limit", f.Limit);
        cmd.Parameters.AddWithValue("$offset", f.Offset);
        var list = new List<ReplicaMessage>();
        await using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
        while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(ReadMessage(r));
        return (list, total);
    }

    /// <summary>A message as capability output.</summary>
    public static object ToOutput(ReplicaMessage m) => new
    {
        id = m.Id,
        channel_id = m.ChannelId,
        user_id = m.UserId,
        user_name = m.UserName,
        text = m.Text,
        ts = m.Ts,
        thread_ts = m.ThreadTs,
        reactions = m.Reactions.Select(r => new { name = r.Name, count = r.Count, users = r.Users }).ToList(),
        synced_at = m.SyncedAt,
    };

    private static ReplicaMessage ReadMessage(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5),
        ParseReactions(r.GetString(6)), r.GetString(7));

    private static string ReactionsJson(IReadOnlyList<SlackReaction> reactions) =>
        JsonSerializer.Serialize(reactions.Select(r => new StoredReaction(r.Name, r.Count, [.. r.Users])).ToList());

    private static List<SlackReaction> ParseReactions(string json)
    {
        try
        {
            return JsonSerializer.Deserialize<List<StoredReaction>>(json)?.Select(r => new SlackReaction(r.Name, r.Count, r.Users)).ToList() ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    private sealed record StoredReaction(string Name, int Count, string[] Users);

    private static async Task ExecAsync(SqliteConnection db, SqliteTransaction tx, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var cmd = db.CreateCommand();
        cmd.Transaction = tx;
        cmd.CommandText = sql;
        foreach (var (name, value) in parameters) cmd.Parameters.AddWithValue(name, value ?? DBNull.Value);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }

    /// <summary>An instant as stored (RFC 3339 UTC, milliseconds).</summary>
    public static string Text(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", CultureInfo.InvariantCulture);
}
