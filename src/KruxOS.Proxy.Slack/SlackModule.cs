using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Slack;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace KruxOS.Proxy.Slack;

/// <summary>
/// The <c>slack.*</c> capabilities (spec §8.14): reads from the replica, writes through the Service Proxy. Definitions ship
/// in Core's catalogue (<c>slack.yaml</c>).
/// </summary>
public sealed class SlackModule() : CapabilityModule("slack", "slack");

/// <summary>Registration of the Slack adapter and its capabilities.</summary>
public static class SlackServiceCollectionExtensions
{
    /// <summary>
    /// The Slack adapter (with its client and options; a test may register its own <see cref="SlackOptions"/> first) and the
    /// <c>slack</c> module. Needs the proxy area (<see cref="IServiceProxy"/>, <see cref="IServiceCredentials"/>).
    /// </summary>
    public static IServiceCollection AddSlackProxy(this IServiceCollection services, SlackOptions options)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Validate() is { } error) throw new ArgumentException(error, nameof(options));
        services.TryAddSingleton(options);
        services.TryAddSingleton(sp => new SlackClient(SlackClient.CreateHttpClient(sp.GetRequiredService<SlackOptions>()),
            sp.GetRequiredService<SlackOptions>(), sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.TryAddSingleton(sp => new SlackAdapter(sp.GetRequiredService<SlackClient>(), sp.GetRequiredService<SlackOptions>(),
            () => sp.GetRequiredService<IServiceCredentials>(), sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddServiceAdapter<SlackAdapter>();
        services.AddCapabilityModule<SlackModule>();
        return services;
    }
}

/// <summary>The structured errors of the <c>slack</c> capabilities (spec §16.2).</summary>
public static class SlackErrors
{
    public static StructuredError DatabaseError(string reason) =>
        StructuredError.Create("DatabaseError", $"The local Slack replica could not be read: {reason}", retryable: true)
            .WithRecovery("retry", "Try again in a moment.");

    public static StructuredError MessageNotFound(string messageId) =>
        StructuredError.Create("MessageNotFound", $"No synchronised Slack message has the id '{Short(messageId)}'.")
            .WithRecovery("search", "Find the message with slack.search (new messages appear after the next sync).", "slack.search")
            .WithContext("message_id", Short(messageId));

    public static StructuredError WriteFailed(string reason) =>
        StructuredError.Create("WriteFailed", $"The Slack write failed: {reason}")
            .WithRecovery("fix_input", "Check the channel id, ts and text (slack.channels, slack.search).", "slack.channels");

    private static string Short(string text) => text.Length <= 64 ? text : text[..64] + "…";
}

/// <summary>What every Slack handler shares: argument reading and replica access mapped to declared errors.</summary>
internal static class SlackCalls
{
    public static string? String(JsonElement args, string name) =>
        args.ValueKind == JsonValueKind.Object && args.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static int? Int(JsonElement args, string name) =>
        args.ValueKind == JsonValueKind.Object && args.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : null;

    /// <summary>Runs a read against the replica; a replica that cannot be opened or read is a <c>DatabaseError</c>.</summary>
    public static async Task<T> ReadAsync<T>(IServiceProxy proxy, Func<SqliteConnection, Task<T>> read, CancellationToken ct)
    {
        try
        {
            await using var lease = await proxy.Replica(SlackAdapter.Service).OpenAsync(ct).ConfigureAwait(false);
            return await read(lease.Connection).ConfigureAwait(false);
        }
        catch (ReplicaUnavailableException e)
        {
            throw new CapabilityException(SlackErrors.DatabaseError(e.Message));
        }
        catch (SqliteException e)
        {
            throw new CapabilityException(SlackErrors.DatabaseError("SQLite error " + e.SqliteErrorCode));
        }
    }

    /// <summary>Checks a write's arguments before anything is buffered or sent (<c>WriteFailed</c> naming the field).</summary>
    public static void CheckWrite(JsonElement args, bool text, bool thread, bool reaction)
    {
        if (!SlackIds.IsChannelId(String(args, "channel")))
            throw new CapabilityException(SlackErrors.WriteFailed("'channel' must be a channel id such as C0123ABCD (see slack.channels)"));
        if (text && string.IsNullOrWhiteSpace(String(args, "text")))
            throw new CapabilityException(SlackErrors.WriteFailed("'text' must not be empty"));
        if (thread && !SlackIds.IsTs(String(args, "thread_ts")))
            throw new CapabilityException(SlackErrors.WriteFailed("'thread_ts' must be a message ts such as 1712345678.000100"));
        if (reaction)
        {
            if (!SlackIds.IsTs(String(args, "ts")))
                throw new CapabilityException(SlackErrors.WriteFailed("'ts' must be a message ts such as 1712345678.000100"));
            if (!SlackIds.IsReactionName(String(args, "reaction")))
                throw new CapabilityException(SlackErrors.WriteFailed("'reaction' must be an emoji name without colons, such as thumbsup"));
        }
    }
}

/// <summary><c>slack.search</c>: filtered messages from the replica, newest first (no Slack call).</summary>
[Capability("slack.search")]
public sealed class SlackSearchHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var (filter, field, reason) = SlackSearchFilter.Create(SlackCalls.String(arguments, "channel"), SlackCalls.String(arguments, "user"),
            SlackCalls.String(arguments, "query"), SlackCalls.String(arguments, "from_date"), SlackCalls.String(arguments, "to_date"),
            SlackCalls.Int(arguments, "limit"), SlackCalls.Int(arguments, "offset"));
        if (filter is null) throw new CapabilityException(Errors.InvalidInput(field!, reason!));
        var (messages, total) = await SlackCalls.ReadAsync(proxy, db => SlackReplica.SearchAsync(db, filter, cancellationToken), cancellationToken).ConfigureAwait(false);
        return CapabilityCatalog.ToElement(new { messages = messages.Select(SlackReplica.ToOutput).ToList(), total });
    }
}

/// <summary><c>slack.read</c>: one message and its thread from the replica (no Slack call).</summary>
[Capability("slack.read")]
public sealed class SlackReadHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var id = SlackCalls.String(arguments, "message_id") ?? "";
        if (!SlackIds.TryParseMessageId(id, out var channel, out var ts)) throw new CapabilityException(SlackErrors.MessageNotFound(id));
        var (message, replies) = await SlackCalls.ReadAsync(proxy, async db =>
        {
            var m = await SlackReplica.MessageAsync(db, channel, ts, cancellationToken).ConfigureAwait(false);
            // replies only for a thread's parent (a message whose thread_ts is its own ts)
            IReadOnlyList<ReplicaMessage> r = m is not null && m.ThreadTs == m.Ts
                ? await SlackReplica.RepliesAsync(db, channel, ts, cancellationToken).ConfigureAwait(false)
                : [];
            return (m, r);
        }, cancellationToken).ConfigureAwait(false);
        if (message is null) throw new CapabilityException(SlackErrors.MessageNotFound(id));
        return CapabilityCatalog.ToElement(new { message = SlackReplica.ToOutput(message), thread_replies = replies.Select(SlackReplica.ToOutput).ToList() });
    }
}

/// <summary><c>slack.channels</c>: the replica's channels by name (no Slack call).</summary>
[Capability("slack.channels")]
public sealed class SlackChannelsHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var channels = await SlackCalls.ReadAsync(proxy, db => SlackReplica.ChannelsAsync(db, cancellationToken), cancellationToken).ConfigureAwait(false);
        return CapabilityCatalog.ToElement(new
        {
            channels = channels.Select(c => new { id = c.Id, name = c.Name, topic = c.Topic, member_count = c.MemberCount, is_private = c.IsPrivate, synced_at = c.SyncedAt }).ToList(),
        });
    }
}

/// <summary><c>slack.send</c>: checked, then buffered (30 s window) through the Service Proxy.</summary>
[Capability("slack.send")]
public sealed class SlackSendHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        SlackCalls.CheckWrite(arguments, text: true, thread: false, reaction: false);
        return (await proxy.SubmitAsync(context, arguments, cancellationToken).ConfigureAwait(false)).ToOutput();
    }
}

/// <summary><c>slack.reply</c>: checked, then buffered (30 s window) through the Service Proxy.</summary>
[Capability("slack.reply")]
public sealed class SlackReplyHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        SlackCalls.CheckWrite(arguments, text: true, thread: true, reaction: false);
        return (await proxy.SubmitAsync(context, arguments, cancellationToken).ConfigureAwait(false)).ToOutput();
    }
}

/// <summary>The two immediate reaction operations: executed now, the replica's copy of the message updated on success.</summary>
internal static class SlackReactions
{
    public static async ValueTask<CapabilityOutput> RunAsync(IServiceProxy proxy, InvocationContext context, JsonElement arguments, bool add, CancellationToken ct)
    {
        SlackCalls.CheckWrite(arguments, text: false, thread: false, reaction: true);
        var outcome = await proxy.ExecuteNowAsync(context, arguments, ct).ConfigureAwait(false);
        if (outcome is WriteOutcome.Failed failed) throw new CapabilityException(SlackErrors.WriteFailed(failed.Reason));
        try
        {
            await using var lease = await proxy.Replica(SlackAdapter.Service).OpenAsync(ct).ConfigureAwait(false);
            var state = await ServiceReplica.ReadSyncStateAsync(lease.Connection, ct).ConfigureAwait(false);
            if (SlackAdapter.BotUserOf(state.Account) is { } bot)
                await SlackReplica.ApplyReactionAsync(lease.Connection, SlackCalls.String(arguments, "channel")!, SlackCalls.String(arguments, "ts")!,
                    SlackCalls.String(arguments, "reaction")!, bot, add, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is ReplicaUnavailableException or SqliteException)
        {
            // Slack has the change; the replica catches up at its next sync of the message
        }
        return CapabilityCatalog.ToElement(new { status = "ok" });
    }
}

/// <summary><c>slack.react</c>: adds the bot's reaction at once.</summary>
[Capability("slack.react")]
public sealed class SlackReactHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        SlackReactions.RunAsync(proxy, context, arguments, add: true, cancellationToken);
}

/// <summary><c>slack.remove_react</c>: removes the bot's reaction at once.</summary>
[Capability("slack.remove_react")]
public sealed class SlackRemoveReactHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken) =>
        SlackReactions.RunAsync(proxy, context, arguments, add: false, cancellationToken);
}
