using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;
using KruxOS.Core.Slack;

namespace KruxOS.Proxy.Slack;

/// <summary>
/// The Slack adapter of the Service Proxy (spec §8.14, §12.5): a bot token checked by <c>auth.test</c> on connect and
/// kept only in the vault (<c>service/slack/oauth</c>, the raw <c>xoxb-…</c> token); a replica of channels, users and
/// messages (initial sync: the last 100 messages per channel; then every 60 s the messages after each channel's newest
/// synced ts, plus the replies of recently active threads); <c>slack.send</c>/<c>slack.reply</c> executed after their
/// window with the write's marker in the message metadata, found again by <see cref="FindExecutedAsync"/> among the bot's
/// own messages; <c>chat.delete</c> and <c>reactions.remove</c> as rollbacks; revoke on disconnect.
/// </summary>
public sealed class SlackAdapter : IServiceAdapter
{
    /// <summary>The service name.</summary>
    public static readonly ServiceName Service = ServiceName.Parse("slack");

    /// <summary>The rollback of a send or reply.</summary>
    public const string ChatDelete = "chat.delete";

    /// <summary>The rollback of a reaction.</summary>
    public const string ReactionsRemove = "reactions.remove";

    private static readonly CapabilityName Send = CapabilityName.Parse("slack.send");
    private static readonly CapabilityName Reply = CapabilityName.Parse("slack.reply");
    private static readonly CapabilityName React = CapabilityName.Parse("slack.react");
    private static readonly CapabilityName RemoveReact = CapabilityName.Parse("slack.remove_react");

    private readonly SlackClient _client;
    private readonly SlackOptions _options;
    private readonly Lazy<IServiceCredentials> _lazyCredentials;
    private readonly TimeProvider _time;
    private readonly string _host;

    /// <param name="client">The Web API client (its base URL is <paramref name="options"/>'s).</param>
    /// <param name="options">Base URL, windows, sync interval and limits.</param>
    /// <param name="credentials">The gateway's access to <c>service/slack/oauth</c>, resolved on first use (the credentials
    /// service itself reads the adapters' descriptors, so it cannot be a constructor dependency).</param>
    /// <param name="time">The clock.</param>
    public SlackAdapter(SlackClient client, SlackOptions options, Func<IServiceCredentials> credentials, TimeProvider time)
    {
        _client = client;
        _options = options;
        _lazyCredentials = new Lazy<IServiceCredentials>(credentials);
        _time = time;
        _host = options.BaseUrl.Host;
        var messages = BatchLimit.PerHour(options.MessagesPerChannelPerHour, "slack.messages", perArgument: "channel");
        Descriptor = new AdapterDescriptor(Service, "Slack", ["slack"], options.SyncInterval,
        [
            WriteOperationSpec.Buffered("slack.send", options.SendWindow, new RollbackSpec(ChatDelete, options.RollbackRetention), messages),
            WriteOperationSpec.Buffered("slack.reply", options.SendWindow, new RollbackSpec(ChatDelete, options.RollbackRetention), messages),
            WriteOperationSpec.Immediate("slack.react", new RollbackSpec(ReactionsRemove, options.RollbackRetention)),
            WriteOperationSpec.Immediate("slack.remove_react"),
        ]);
        CredentialHosts = [_host];
    }

    private IServiceCredentials Credentials => _lazyCredentials.Value;

    /// <inheritdoc />
    public AdapterDescriptor Descriptor { get; }

    /// <inheritdoc />
    public ImmutableArray<string> CredentialHosts { get; }

    // ---- connection ---------------------------------------------------------------------------------------------------

    /// <inheritdoc />
    public async Task<ConnectResult> ConnectAsync(ConnectRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (request.Secret.IsEmpty) return new ConnectResult.Refused("a Slack bot token (xoxb-…) is required on standard input");
        var token = SlackToken.FromBytes(request.Secret);
        if (!token.IsBotToken) return new ConnectResult.Refused("the token is not a Slack bot token (it must start with xoxb- and hold only letters, digits and dashes)");
        var who = await _client.AuthTestAsync(token, cancellationToken).ConfigureAwait(false);
        if (who.Error is { } e) return new ConnectResult.Refused($"Slack refused the token (auth.test: {e.Code})");
        return new ConnectResult.Connected(Account(who.Value!), request.Secret.ToArray());
    }

    /// <inheritdoc />
    public async Task<ConnectionCheck> VerifyAsync(CancellationToken cancellationToken)
    {
        using var lease = await Credentials.OpenAsync(new CredentialUse(Service, _host, "verify"), cancellationToken).ConfigureAwait(false);
        if (!lease.Granted) return new ConnectionCheck(false, null, "the credential is unavailable: " + lease.Error!.ErrorType);
        var who = await _client.AuthTestAsync(SlackToken.FromLease(lease), cancellationToken).ConfigureAwait(false);
        if (who.Error is { } e)
        {
            if (e.Kind == SlackFailureKind.Unauthorized) await FlagAsync(e, cancellationToken).ConfigureAwait(false);
            return new ConnectionCheck(false, null, $"auth.test: {e.Code}");
        }
        return new ConnectionCheck(true, Account(who.Value!), null);
    }

    /// <inheritdoc />
    public async Task<ProviderCallResult> RevokeAsync(CancellationToken cancellationToken)
    {
        using var lease = await Credentials.OpenAsync(new CredentialUse(Service, _host, "revoke"), cancellationToken).ConfigureAwait(false);
        if (!lease.Granted) return ProviderCallResult.Failure("the credential is unavailable: " + lease.Error!.ErrorType);
        var r = await _client.RevokeAsync(SlackToken.FromLease(lease), cancellationToken).ConfigureAwait(false);
        return r.Error is { } e ? ProviderCallResult.Failure($"auth.revoke: {e.Code}") : ProviderCallResult.Success;
    }

    /// <summary>The account a token belongs to: <c>&lt;team_id&gt;/&lt;bot user id&gt; (&lt;team&gt;)</c>; a different team or bot purges the replica.</summary>
    private static string Account(SlackIdentity who) => $"{who.TeamId}/{who.UserId} ({who.Team})";

    /// <summary>The bot user id of an account string (<see cref="Account"/>), or null.</summary>
    public static string? BotUserOf(string? account)
    {
        if (account is null) return null;
        var slash = account.IndexOf('/', StringComparison.Ordinal);
        var space = account.IndexOf(' ', StringComparison.Ordinal);
        if (slash < 0 || space < slash) return null;
        var user = account[(slash + 1)..space];
        return SlackIds.IsUserId(user) ? user : null;
    }

    private Task FlagAsync(SlackError error, CancellationToken ct) =>
        Credentials.FlagAsync(Service, $"Slack refused the bot token ({error.Method}: {error.Code}); reconnect with 'kruxos connect slack'", ct);

    // ---- sync ---------------------------------------------------------------------------------------------------------

    /// <inheritdoc />
    public async Task<SyncOutcome> SyncAsync(SyncRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        using var lease = await Credentials.OpenAsync(new CredentialUse(Service, _host, "sync"), cancellationToken).ConfigureAwait(false);
        if (!lease.Granted) return SyncOutcome.Failure("the credential is unavailable: " + lease.Error!.ErrorType);
        var run = new SyncRun(this, SlackToken.FromLease(lease), request, cancellationToken);
        try
        {
            return await run.RunAsync().ConfigureAwait(false);
        }
        catch (SyncFailed f)
        {
            if (f.Error.Kind == SlackFailureKind.Unauthorized) await FlagAsync(f.Error, cancellationToken).ConfigureAwait(false);
            return SyncOutcome.Failure($"{f.Error.Method}: {f.Error.Code}", run.Calls);
        }
    }

    private sealed class SyncFailed(SlackError error) : Exception(error.ToString())
    {
        public SlackError Error { get; } = error;
    }

    /// <summary>One sync: channels, then per channel new messages and active threads, then unknown users.</summary>
    private sealed class SyncRun(SlackAdapter adapter, SlackToken token, SyncRequest request, CancellationToken ct)
    {
        private const int MaxListPages = 50;
        private SlackClient Client => adapter._client;
        private SlackOptions Options => adapter._options;
        public int Calls { get; private set; }

        public async Task<SyncOutcome> RunAsync()
        {
            var db = request.Replica;
            await SlackReplica.EnsureSchemaAsync(db, ct).ConfigureAwait(false);
            var now = adapter._time.GetUtcNow();
            var initial = request.Cursor is null;
            var cursor = SlackSyncCursor.Parse(request.Cursor);

            var channels = await AllAsync<SlackChannel>((c, n) => Client.ListChannelsAsync(token, c, n, ct), 200).ConfigureAwait(false);
            channels = [.. channels.Where(c => !c.IsArchived).OrderBy(c => c.Id, StringComparer.Ordinal).Take(Options.MaxChannels)];
            await SlackReplica.ReplaceChannelsAsync(db, channels, now, ct).ConfigureAwait(false);
            cursor = cursor.Keep(channels.Select(c => c.Id));

            if (initial)
            {
                var users = await AllAsync<SlackUser>((c, n) => Client.ListUsersAsync(token, c, n, ct), 200).ConfigureAwait(false);
                await SlackReplica.UpsertUsersAsync(db, users, now, ct).ConfigureAwait(false);
            }

            foreach (var channel in channels)
            {
                var newest = cursor.NewestOf(channel.Id);
                var messages = newest is null
                    ? await InitialAsync(channel.Id).ConfigureAwait(false)
                    : await IncrementalAsync(channel.Id, newest.Length == 0 ? null : newest).ConfigureAwait(false);
                await SlackReplica.UpsertMessagesAsync(db, messages, now, ct).ConfigureAwait(false);
                var replies = new List<SlackMessage>();
                foreach (var parent in messages.Where(m => m.ReplyCount > 0 && (m.ThreadTs is null || m.ThreadTs == m.Ts)))
                    replies.AddRange(await ThreadAsync(channel.Id, parent.Ts, null).ConfigureAwait(false));
                if (newest is not null)
                {
                    var since = (now - Options.ThreadRefreshWindow - DateTimeOffset.UnixEpoch).Ticks / 10;
                    var fetched = messages.Select(m => m.Ts).ToHashSet(StringComparer.Ordinal);
                    foreach (var (threadTs, newestReply) in await SlackReplica.ActiveThreadsAsync(db, channel.Id, since, Options.MaxThreadRefreshesPerChannel, ct).ConfigureAwait(false))
                        if (!fetched.Contains(threadTs))
                            replies.AddRange(await ThreadAsync(channel.Id, threadTs, newestReply).ConfigureAwait(false));
                }
                await SlackReplica.UpsertMessagesAsync(db, replies, now, ct).ConfigureAwait(false);
                cursor = cursor.Advance(channel.Id, messages.Select(m => m.Ts).Aggregate((string?)null, SlackSyncCursor.Newer));
            }

            foreach (var userId in await SlackReplica.UnknownUsersAsync(db, 20, ct).ConfigureAwait(false))
            {
                var u = await CallAsync(() => Client.UserInfoAsync(token, userId, ct), tolerate: true).ConfigureAwait(false);
                if (u is not null) await SlackReplica.UpsertUsersAsync(db, [u], now, ct).ConfigureAwait(false);
            }

            var entries = await SlackReplica.CountMessagesAsync(db, ct).ConfigureAwait(false);
            return SyncOutcome.Success(cursor.Serialize(), entries, Calls);
        }

        /// <summary>The newest <see cref="SlackOptions.InitialMessagesPerChannel"/> messages: one page.</summary>
        private async Task<List<SlackMessage>> InitialAsync(string channelId)
        {
            var page = await CallAsync(() => Client.HistoryAsync(token, channelId, null, null, Options.InitialMessagesPerChannel, ct)).ConfigureAwait(false);
            return [.. page!.Items];
        }

        /// <summary>Every message after <paramref name="oldest"/> (all pages, bounded by <see cref="SlackOptions.MaxMessagesPerSync"/>).</summary>
        private async Task<List<SlackMessage>> IncrementalAsync(string channelId, string? oldest)
        {
            var all = new List<SlackMessage>();
            string? next = null;
            for (var pages = 0; pages < MaxListPages && all.Count < Options.MaxMessagesPerSync; pages++)
            {
                var page = await CallAsync(() => Client.HistoryAsync(token, channelId, oldest ?? "0.000000", next, 200, ct)).ConfigureAwait(false);
                all.AddRange(page!.Items);
                next = page.NextCursor;
                if (next is null) break;
            }
            return all;
        }

        /// <summary>The replies of a thread (after <paramref name="oldest"/> when given); a thread that vanished is skipped.</summary>
        private async Task<List<SlackMessage>> ThreadAsync(string channelId, string threadTs, string? oldest)
        {
            var page = await CallAsync(() => Client.RepliesAsync(token, channelId, threadTs, oldest, null, 200, ct), tolerate: true).ConfigureAwait(false);
            return page is null ? [] : [.. page.Items.Where(m => m.Ts != threadTs)];
        }

        private async Task<List<T>> AllAsync<T>(Func<string?, int, Task<SlackResult<SlackPage<T>>>> list, int pageSize)
        {
            var all = new List<T>();
            string? next = null;
            for (var pages = 0; pages < MaxListPages; pages++)
            {
                var page = await CallAsync(() => list(next, pageSize)).ConfigureAwait(false);
                all.AddRange(page!.Items);
                next = page.NextCursor;
                if (next is null) break;
            }
            return all;
        }

        /// <summary>One call, counted; a failure stops the sync, except a permanent one where <paramref name="tolerate"/> (a thread or user that vanished).</summary>
        private async Task<T?> CallAsync<T>(Func<Task<SlackResult<T>>> call, bool tolerate = false) where T : class
        {
            Calls++;
            var r = await call().ConfigureAwait(false);
            if (r.Error is { } e)
            {
                if (tolerate && e.Kind == SlackFailureKind.Permanent) return null;
                throw new SyncFailed(e);
            }
            return r.Value;
        }
    }

    // ---- writes -------------------------------------------------------------------------------------------------------

    /// <inheritdoc />
    public string Describe(CapabilityName operation, JsonElement arguments)
    {
        var channel = Arg(arguments, "channel") is { } c && SlackIds.IsChannelId(c) ? c : "?";
        var length = Arg(arguments, "text")?.Length ?? 0;
        if (operation == Send) return $"message to {channel} ({length} characters)";
        if (operation == Reply) return $"reply in {channel} thread {Ts(Arg(arguments, "thread_ts"))} ({length} characters)";
        if (operation == React || operation == RemoveReact)
        {
            var name = Arg(arguments, "reaction") is { } n && SlackIds.IsReactionName(n) ? n : "?";
            return $"{(operation == React ? "add" : "remove")} :{name}: on {channel}/{Ts(Arg(arguments, "ts"))}";
        }
        return operation.Value;
    }

    private static string Ts(string? ts) => SlackIds.IsTs(ts) ? ts! : "?";

    /// <inheritdoc />
    public Task<RollbackCapture> CaptureRollbackAsync(WriteExecution write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        var now = _time.GetUtcNow();
        RollbackCapture capture;
        if (write.Operation == Send || write.Operation == Reply)
            capture = Arg(write.Arguments, "channel") is { } channel && SlackIds.IsChannelId(channel)
                ? new RollbackCapture.Captured(new RollbackPoint(ChatDelete, JsonSerializer.SerializeToElement(new { channel }), now))
                : RollbackCapture.None;
        else if (write.Operation == React && Arg(write.Arguments, "channel") is { } rc && Arg(write.Arguments, "ts") is { } rts
                 && Arg(write.Arguments, "reaction") is { } name)
            capture = new RollbackCapture.Captured(new RollbackPoint(ReactionsRemove, JsonSerializer.SerializeToElement(new { channel = rc, ts = rts, reaction = name }), now));
        else
            capture = RollbackCapture.None;
        return Task.FromResult(capture);
    }

    /// <inheritdoc />
    public async Task<WriteOutcome> ExecuteAsync(WriteExecution write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (!Arguments.TryRead(write.Operation, write.Arguments, out var args, out var bad)) return WriteOutcome.Permanent(bad!);
        using var lease = await Credentials.OpenAsync(CredentialUse.ForWrite(write, _host), cancellationToken).ConfigureAwait(false);
        if (!lease.Granted) return WriteOutcome.Transient("the Slack credential is unavailable: " + lease.Error!.ErrorType);
        var token = SlackToken.FromLease(lease);

        if (write.Operation == Send || write.Operation == Reply)
        {
            var posted = await _client.PostMessageAsync(token, args.Channel, args.Text!, args.ThreadTs, write.Marker.Value, cancellationToken).ConfigureAwait(false);
            if (posted.Error is { } e) return await FailedAsync(e, cancellationToken).ConfigureAwait(false);
            return new WriteOutcome.Done(SlackIds.MessageId(posted.Value!.ChannelId, posted.Value.Ts),
                JsonSerializer.SerializeToElement(new { channel = posted.Value.ChannelId, ts = posted.Value.Ts }));
        }

        var add = write.Operation == React;
        var r = add
            ? await _client.AddReactionAsync(token, args.Channel, args.Ts!, args.Reaction!, cancellationToken).ConfigureAwait(false)
            : await _client.RemoveReactionAsync(token, args.Channel, args.Ts!, args.Reaction!, cancellationToken).ConfigureAwait(false);
        // already in the state asked for: the operation is idempotent
        if (r.Error is { Code: "already_reacted" } && add || r.Error is { Code: "no_reaction" } && !add) r = SlackResult<bool>.Success(true);
        if (r.Error is { } re) return await FailedAsync(re, cancellationToken).ConfigureAwait(false);
        return new WriteOutcome.Done(SlackIds.MessageId(args.Channel, args.Ts!) + "/" + args.Reaction);
    }

    /// <inheritdoc />
    public async Task<ExecutedLookup> FindExecutedAsync(WriteExecution write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(write);
        if (write.Operation != Send && write.Operation != Reply) return ExecutedLookup.Absent; // reactions are idempotent
        if (!Arguments.TryRead(write.Operation, write.Arguments, out var args, out _)) return ExecutedLookup.Absent;
        using var lease = await Credentials.OpenAsync(CredentialUse.ForWrite(write, _host), cancellationToken).ConfigureAwait(false);
        if (!lease.Granted) return new ExecutedLookup.Unknown("the Slack credential is unavailable: " + lease.Error!.ErrorType);
        var token = SlackToken.FromLease(lease);
        var who = await _client.AuthTestAsync(token, cancellationToken).ConfigureAwait(false);
        if (who.Error is { } we) return new ExecutedLookup.Unknown($"auth.test: {we.Code}");

        // the write cannot have reached Slack before it was buffered (its id carries that instant); a minute of clock skew allowed
        var oldest = SlackIds.TsOf(BufferedAt(write.Id) - TimeSpan.FromMinutes(1));
        string? next = null;
        for (var pages = 0; pages < 20; pages++)
        {
            var page = args.ThreadTs is null
                ? await _client.HistoryAsync(token, args.Channel, oldest, next, 200, cancellationToken).ConfigureAwait(false)
                : await _client.RepliesAsync(token, args.Channel, args.ThreadTs, oldest, next, 200, cancellationToken).ConfigureAwait(false);
            if (page.Error is { Kind: SlackFailureKind.Permanent, Code: "channel_not_found" or "thread_not_found" }) return ExecutedLookup.Absent;
            if (page.Error is { } pe) return new ExecutedLookup.Unknown($"{pe.Method}: {pe.Code}");
            // only the bot's own messages count: a marker copied into someone else's message proves nothing
            var mine = page.Value!.Items.FirstOrDefault(m => m.WriteMarker == write.Marker.Value && m.UserId == who.Value!.UserId);
            if (mine is not null) return new ExecutedLookup.Found(SlackIds.MessageId(args.Channel, mine.Ts));
            next = page.Value.NextCursor;
            if (next is null) return ExecutedLookup.Absent;
        }
        return new ExecutedLookup.Unknown("too many messages since the write was buffered to search them all");
    }

    /// <inheritdoc />
    public async Task<WriteOutcome> ApplyRollbackAsync(RollbackPoint point, WriteExecution write, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(point);
        ArgumentNullException.ThrowIfNull(write);
        if (point.Kind == ChatDelete)
        {
            // the message to delete: the one the write created, found by its marker among the bot's messages
            var channel = point.Data.ValueKind == JsonValueKind.Object && point.Data.TryGetProperty("channel", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;
            var ts = point.Data.ValueKind == JsonValueKind.Object && point.Data.TryGetProperty("ts", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            // the reference Slack gave the executed write names the message, when it is in the point's channel
            if (ts is null && SlackIds.TryParseMessageId(write.ProviderReference, out var rc, out var rts) && rc == channel)
                ts = rts;
            if (ts is null)
            {
                var found = await FindExecutedAsync(write, cancellationToken).ConfigureAwait(false);
                switch (found)
                {
                    case ExecutedLookup.Found f when SlackIds.TryParseMessageId(f.ProviderReference, out var fc, out var fts):
                        channel = fc;
                        ts = fts;
                        break;
                    case ExecutedLookup.Unknown u:
                        return WriteOutcome.Transient(u.Reason);
                    default:
                        return WriteOutcome.Permanent("the message to delete was not found (already deleted?)");
                }
            }
            if (!SlackIds.IsChannelId(channel) || !SlackIds.IsTs(ts)) return WriteOutcome.Permanent("the rollback point names no message");
            using var lease = await Credentials.OpenAsync(CredentialUse.ForWrite(write, _host), cancellationToken).ConfigureAwait(false);
            if (!lease.Granted) return WriteOutcome.Transient("the Slack credential is unavailable: " + lease.Error!.ErrorType);
            var r = await _client.DeleteMessageAsync(SlackToken.FromLease(lease), channel!, ts!, cancellationToken).ConfigureAwait(false);
            if (r.Error is { Code: "message_not_found" }) return new WriteOutcome.Done(SlackIds.MessageId(channel!, ts!));
            return r.Error is { } e ? await FailedAsync(e, cancellationToken).ConfigureAwait(false) : new WriteOutcome.Done(SlackIds.MessageId(channel!, ts!));
        }
        if (point.Kind == ReactionsRemove)
        {
            if (!Arguments.TryRead(React, point.Data, out var args, out var bad)) return WriteOutcome.Permanent(bad!);
            using var lease = await Credentials.OpenAsync(CredentialUse.ForWrite(write, _host), cancellationToken).ConfigureAwait(false);
            if (!lease.Granted) return WriteOutcome.Transient("the Slack credential is unavailable: " + lease.Error!.ErrorType);
            var r = await _client.RemoveReactionAsync(SlackToken.FromLease(lease), args.Channel, args.Ts!, args.Reaction!, cancellationToken).ConfigureAwait(false);
            if (r.Error is { Code: "no_reaction" }) r = SlackResult<bool>.Success(true);
            return r.Error is { } e ? await FailedAsync(e, cancellationToken).ConfigureAwait(false) : new WriteOutcome.Done(SlackIds.MessageId(args.Channel, args.Ts!) + "/" + args.Reaction);
        }
        return WriteOutcome.Permanent($"unknown rollback kind '{point.Kind}'");
    }

    private async Task<WriteOutcome> FailedAsync(SlackError e, CancellationToken ct)
    {
        var reason = $"{e.Method}: {e.Code}";
        switch (e.Kind)
        {
            case SlackFailureKind.Permanent:
                return WriteOutcome.Permanent(reason);
            case SlackFailureKind.Unauthorized:
                // the operator must reconnect; until then the write waits in backoff (and then in the dead letters)
                await FlagAsync(e, ct).ConfigureAwait(false);
                return WriteOutcome.Transient(reason);
            default:
                return WriteOutcome.Transient(reason, e.RetryAfter);
        }
    }

    /// <summary>The instant a write was buffered: its id is a version-7 GUID, whose first 48 bits are Unix milliseconds.</summary>
    internal static DateTimeOffset BufferedAt(WriteId id)
    {
        var hex = id.Value.AsSpan(WriteId.Prefix.Length, 12);
        var ms = long.Parse(hex, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        return DateTimeOffset.FromUnixTimeMilliseconds(ms);
    }

    private static string? Arg(JsonElement arguments, string name) =>
        arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>The arguments of a Slack write, read back from the write's record and checked again (never trusted as stored).</summary>
    internal readonly record struct Arguments(string Channel, string? Text, string? ThreadTs, string? Ts, string? Reaction)
    {
        public static bool TryRead(CapabilityName operation, JsonElement json, out Arguments args, out string? error)
        {
            args = default;
            error = null;
            var channel = Arg(json, "channel");
            if (!SlackIds.IsChannelId(channel)) { error = "the write names no valid channel"; return false; }
            if (operation == Send || operation == Reply)
            {
                var text = Arg(json, "text");
                if (string.IsNullOrEmpty(text) || text.Length > SlackClient.MaxTextLength) { error = "the write has no valid text"; return false; }
                string? thread = null;
                if (operation == Reply)
                {
                    thread = Arg(json, "thread_ts");
                    if (!SlackIds.IsTs(thread)) { error = "the reply names no valid thread"; return false; }
                }
                args = new Arguments(channel!, text, thread, null, null);
                return true;
            }
            var ts = Arg(json, "ts");
            var reaction = Arg(json, "reaction");
            if (!SlackIds.IsTs(ts) || !SlackIds.IsReactionName(reaction)) { error = "the reaction names no valid message or emoji"; return false; }
            args = new Arguments(channel!, null, null, ts, reaction);
            return true;
        }
    }
}
