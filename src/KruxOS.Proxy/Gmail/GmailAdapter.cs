using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Proxy;
using Microsoft.Data.Sqlite;

namespace KruxOS.Proxy.Gmail;

/// <summary>
/// The Gmail adapter (spec §8.7, §12.5, ADR 0048): replica sync (initial, then incremental through the history id),
/// buffered <c>email.send</c> / <c>delete</c> / <c>move</c> / <c>bulk_delete</c> with their rollback points, immediate
/// <c>email.draft</c>, connect through OAuth PKCE, revoke on disconnect. Every provider request uses an access token
/// lent from the vault for that request (audited), refreshed first when it is about to expire.
/// </summary>
public sealed class GmailAdapter(GmailOptions options, GmailApiClient api, GoogleOAuthClient oauth, GmailTokens tokens, GmailConnector connector,
    TimeProvider clock) : IServiceAdapter
{
    private const int MaxHistoryPages = 200;

    /// <inheritdoc />
    public AdapterDescriptor Descriptor { get; } = DescriptorFor(options);

    /// <inheritdoc />
    public ImmutableArray<string> CredentialHosts => options.CredentialHosts;

    /// <summary>The descriptor for the given settings (windows per ADR 0055).</summary>
    public static AdapterDescriptor DescriptorFor(GmailOptions o) => new(
        GmailTokens.Service, "Gmail", ["email"], o.SyncInterval,
        [
            WriteOperationSpec.Buffered("email.send", o.SendWindow, null, BatchLimit.PerHour(20, "email.send")),
            WriteOperationSpec.Buffered("email.delete", o.DeleteWindow, new RollbackSpec("untrash", TimeSpan.FromHours(72)), BatchLimit.PerSession(5, "email.delete")),
            WriteOperationSpec.Buffered("email.move", o.MoveWindow, new RollbackSpec("reverse_labels", TimeSpan.FromHours(72)), null),
            WriteOperationSpec.Buffered("email.bulk_delete", o.DeleteWindow, new RollbackSpec("untrash", TimeSpan.FromHours(72)), BatchLimit.PerSession(0, "email.bulk_delete")),
            WriteOperationSpec.Immediate("email.draft"),
        ]);

    /// <inheritdoc />
    public Task<ConnectResult> ConnectAsync(ConnectRequest request, CancellationToken cancellationToken)
    {
        var clientId = request.Settings.GetValueOrDefault("client_id") ?? options.ClientId;
        if (string.IsNullOrWhiteSpace(clientId) || clientId.Length > 256 || clientId.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
            return Task.FromResult<ConnectResult>(new ConnectResult.Refused("give the OAuth client id (--client-id or Proxy:Gmail:ClientId)"));
        if (request.Secret.IsEmpty || request.Secret.Length > 512)
            return Task.FromResult<ConnectResult>(new ConnectResult.Refused("give the OAuth client secret on stdin or in KRUXOS_GMAIL_CLIENT_SECRET"));
        string secret;
        try { secret = new System.Text.UTF8Encoding(false, true).GetString(request.Secret.Span).Trim(); }
        catch (System.Text.DecoderFallbackException) { return Task.FromResult<ConnectResult>(new ConnectResult.Refused("the client secret is not UTF-8 text")); }
        if (secret.Length == 0 || secret.Any(char.IsControl))
            return Task.FromResult<ConnectResult>(new ConnectResult.Refused("the client secret is empty or contains control characters"));
        var origin = request.Settings.GetValueOrDefault("dashboard_url") ?? request.Settings.GetValueOrDefault("redirect_uri");
        if (origin is null || !Uri.TryCreate(origin, UriKind.Absolute, out var dashboard) || (dashboard.Scheme != Uri.UriSchemeHttps && !dashboard.IsLoopback)
            || !string.IsNullOrEmpty(dashboard.UserInfo))
            return Task.FromResult<ConnectResult>(new ConnectResult.Refused("give the dashboard's https URL (--dashboard-url), where Google will redirect to " + GmailConnector.CallbackPath));
        var (url, expires) = connector.CreateTicket(clientId, secret, dashboard);
        return Task.FromResult<ConnectResult>(new ConnectResult.Pending(url, expires));
    }

    /// <inheritdoc />
    public async Task<ConnectionCheck> VerifyAsync(CancellationToken cancellationToken)
    {
        var r = await CallAsync(new CredentialUse(GmailTokens.Service, "", "verify"), t => api.ProfileAsync(t, cancellationToken), cancellationToken).ConfigureAwait(false);
        return r.Ok && r.Body.TryGetProperty("emailAddress", out var a) && a.ValueKind == JsonValueKind.String
            ? new ConnectionCheck(true, a.GetString(), null)
            : new ConnectionCheck(false, null, r.Reason ?? "no address in the profile");
    }

    /// <inheritdoc />
    public async Task<ProviderCallResult> RevokeAsync(CancellationToken cancellationToken)
    {
        var (credential, reason) = await tokens.ReadAsync(new CredentialUse(GmailTokens.Service, options.RevokeEndpoint.Host.ToLowerInvariant(), "revoke"), cancellationToken).ConfigureAwait(false);
        if (credential is null) return ProviderCallResult.Failure(reason ?? "no credential");
        // revoking the refresh token ends the grant and every access token issued from it
        var r = await oauth.RevokeAsync(string.IsNullOrEmpty(credential.RefreshToken) ? credential.AccessToken : credential.RefreshToken, cancellationToken).ConfigureAwait(false);
        return r.Ok || r.Status == GoogleStatus.Permanent && r.Reason?.Contains("invalid_token", StringComparison.Ordinal) == true
            ? ProviderCallResult.Success : ProviderCallResult.Failure(r.Reason ?? "revoke failed");
    }

    /// <inheritdoc />
    public async Task<SyncOutcome> SyncAsync(SyncRequest request, CancellationToken cancellationToken)
    {
        var calls = 0;
        var use = new CredentialUse(GmailTokens.Service, "", "sync");
        Task<GoogleResponse> Call(Func<string, Task<GoogleResponse>> f) { calls++; return CallAsync(use, f, cancellationToken); }
        var db = request.Replica;
        await GmailReplica.EnsureSchemaAsync(db, cancellationToken).ConfigureAwait(false);
        if (request.Cursor is { } cursor && ulong.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var start))
        {
            var changed = new HashSet<string>(StringComparer.Ordinal);
            var deleted = new HashSet<string>(StringComparer.Ordinal);
            string? page = null;
            var newCursor = cursor;
            for (var i = 0; i < MaxHistoryPages; i++)
            {
                var h = await Call(t => api.ListHistoryAsync(t, start, page, cancellationToken)).ConfigureAwait(false);
                if (h.Status == GoogleStatus.NotFound) return await FullSyncAsync(db, Call, calls, clear: true, cancellationToken).ConfigureAwait(false);
                if (!h.Ok) return SyncOutcome.Failure("history.list: " + h.Reason, calls);
                foreach (var record in Array(h.Body, "history"))
                {
                    foreach (var added in Array(record, "messagesAdded")) Note(added, changed);
                    foreach (var l in Array(record, "labelsAdded")) Note(l, changed);
                    foreach (var l in Array(record, "labelsRemoved")) Note(l, changed);
                    foreach (var d in Array(record, "messagesDeleted"))
                        if (MessageId(d) is { } id) { deleted.Add(id); changed.Remove(id); }
                }
                if (h.Body.TryGetProperty("historyId", out var hid) && hid.ValueKind == JsonValueKind.String && ulong.TryParse(hid.GetString(), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
                    newCursor = n.ToString(CultureInfo.InvariantCulture);
                page = h.Body.TryGetProperty("nextPageToken", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
                if (page is null) break;
            }
            var metas = new List<GmailMessageMeta>();
            foreach (var id in changed)
            {
                var m = await Call(t => api.GetMessageAsync(t, id, "full", GmailMessages.SyncFields, cancellationToken)).ConfigureAwait(false);
                if (m.Status == GoogleStatus.NotFound) { deleted.Add(id); continue; }
                if (!m.Ok) return SyncOutcome.Failure("messages.get: " + m.Reason, calls);
                if (GmailMessages.ReadMeta(m.Body) is { } meta) metas.Add(meta);
            }
            var now = clock.GetUtcNow();
            await using (var tx = (SqliteTransaction)await db.BeginTransactionAsync(cancellationToken).ConfigureAwait(false))
            {
                foreach (var meta in metas) await GmailReplica.UpsertAsync(db, tx, meta, now, cancellationToken).ConfigureAwait(false);
                foreach (var id in deleted) await GmailReplica.DeleteAsync(db, tx, id, cancellationToken).ConfigureAwait(false);
                await tx.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            return SyncOutcome.Success(newCursor, await GmailReplica.CountAsync(db, cancellationToken).ConfigureAwait(false), calls);
        }
        return await FullSyncAsync(db, Call, calls, clear: request.Cursor is not null, cancellationToken).ConfigureAwait(false);
    }

    private async Task<SyncOutcome> FullSyncAsync(SqliteConnection db, Func<Func<string, Task<GoogleResponse>>, Task<GoogleResponse>> call, int calls0,
        bool clear, CancellationToken ct)
    {
        var calls = calls0;
        Task<GoogleResponse> Call(Func<string, Task<GoogleResponse>> f) { calls++; return call(f); }
        // the history id is read before listing: whatever changes while we list is replayed by the next incremental sync
        var profile = await Call(t => api.ProfileAsync(t, ct)).ConfigureAwait(false);
        if (!profile.Ok) return SyncOutcome.Failure("profile: " + profile.Reason, calls);
        var historyId = profile.Body.TryGetProperty("historyId", out var hid) && hid.ValueKind == JsonValueKind.String ? hid.GetString() : null;
        if (historyId is null || !ulong.TryParse(historyId, NumberStyles.None, CultureInfo.InvariantCulture, out _))
            return SyncOutcome.Failure("profile: no history id", calls);
        var labels = await Call(t => api.ListLabelsAsync(t, ct)).ConfigureAwait(false);
        if (!labels.Ok) return SyncOutcome.Failure("labels.list: " + labels.Reason, calls);
        var ids = new List<string>();
        string? page = null;
        while (ids.Count < options.InitialSyncMessages)
        {
            var list = await Call(t => api.ListMessagesAsync(t, null, null, page, Math.Min(500, options.InitialSyncMessages - ids.Count), false, ct)).ConfigureAwait(false);
            if (!list.Ok) return SyncOutcome.Failure("messages.list: " + list.Reason, calls);
            foreach (var m in Array(list.Body, "messages"))
                if (m.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String && GmailApiClient.IsValidId(id.GetString())) ids.Add(id.GetString()!);
            page = list.Body.TryGetProperty("nextPageToken", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;
            if (page is null) break;
        }
        var metas = new List<GmailMessageMeta>();
        foreach (var id in ids.Distinct(StringComparer.Ordinal))
        {
            var m = await Call(t => api.GetMessageAsync(t, id, "full", GmailMessages.SyncFields, ct)).ConfigureAwait(false);
            if (m.Status == GoogleStatus.NotFound) continue;
            if (!m.Ok) return SyncOutcome.Failure("messages.get: " + m.Reason, calls);
            if (GmailMessages.ReadMeta(m.Body) is { } meta) metas.Add(meta);
        }
        var now = clock.GetUtcNow();
        await using (var tx = (SqliteTransaction)await db.BeginTransactionAsync(ct).ConfigureAwait(false))
        {
            if (clear) await GmailReplica.ClearAsync(db, tx, ct).ConfigureAwait(false);
            await GmailReplica.ReplaceLabelsAsync(db, tx, Array(labels.Body, "labels").Select(LabelOf).Where(l => l is not null).Select(l => l!.Value), ct).ConfigureAwait(false);
            foreach (var meta in metas) await GmailReplica.UpsertAsync(db, tx, meta, now, ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        return SyncOutcome.Success(historyId, await GmailReplica.CountAsync(db, ct).ConfigureAwait(false), calls);
    }

    /// <inheritdoc />
    public string Describe(CapabilityName operation, JsonElement arguments)
    {
        string Arg(string n) => arguments.ValueKind == JsonValueKind.Object && arguments.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";
        var text = operation.Value switch
        {
            "email.send" or "email.draft" => $"to {Arg("to")}: \"{Arg("subject")}\"",
            "email.delete" => $"trash message {Arg("message_id")}",
            "email.bulk_delete" => $"trash {Ids(arguments).Length} messages",
            "email.move" => $"message {Arg("message_id")}: +[{string.Join(",", Strings(arguments, "add_labels"))}] -[{string.Join(",", Strings(arguments, "remove_labels"))}]",
            _ => operation.Value,
        };
        text = new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]);
        return text.Length > 200 ? text[..200] : text;
    }

    /// <inheritdoc />
    public async Task<RollbackCapture> CaptureRollbackAsync(WriteExecution write, CancellationToken cancellationToken)
    {
        var use = CredentialUse.ForWrite(write, "");
        switch (write.Operation.Value)
        {
            case "email.delete":
            case "email.bulk_delete":
            {
                var ids = write.Operation.Value == "email.delete" ? [Str(write.Arguments, "message_id")] : Ids(write.Arguments);
                var kept = new List<Dictionary<string, object>>();
                foreach (var id in ids)
                {
                    var m = await CallAsync(use, t => api.GetMessageAsync(t, id, "metadata", cancellationToken), cancellationToken).ConfigureAwait(false);
                    if (m.Status == GoogleStatus.NotFound) continue;
                    if (!m.Ok) return new RollbackCapture.Failed(Failure(m));
                    if (GmailMessages.ReadMeta(m.Body) is { } meta)
                        kept.Add(new() { ["id"] = meta.Id, ["labels"] = meta.Labels, ["from"] = meta.From, ["subject"] = meta.Subject });
                }
                if (kept.Count == 0) return RollbackCapture.None;
                return new RollbackCapture.Captured(new RollbackPoint("untrash", JsonSerializer.SerializeToElement(new { messages = kept }), clock.GetUtcNow()));
            }
            case "email.move":
            {
                var id = Str(write.Arguments, "message_id");
                var m = await CallAsync(use, t => api.GetMessageAsync(t, id, "minimal", cancellationToken), cancellationToken).ConfigureAwait(false);
                if (!m.Ok) return new RollbackCapture.Failed(Failure(m));
                var current = GmailReplica.Strings(m.Body, "labelIds").ToHashSet(StringComparer.Ordinal);
                // only what the move really changes is reversed: labels already present were not added by it
                var added = Strings(write.Arguments, "add_labels").Where(l => !current.Contains(l)).Distinct(StringComparer.Ordinal).ToArray();
                var removed = Strings(write.Arguments, "remove_labels").Where(current.Contains).Distinct(StringComparer.Ordinal).ToArray();
                if (added.Length == 0 && removed.Length == 0) return RollbackCapture.None;
                return new RollbackCapture.Captured(new RollbackPoint("reverse_labels",
                    JsonSerializer.SerializeToElement(new { message_id = id, added, removed }), clock.GetUtcNow()));
            }
            default:
                return RollbackCapture.None;
        }
    }

    /// <inheritdoc />
    public async Task<WriteOutcome> ExecuteAsync(WriteExecution write, CancellationToken cancellationToken)
    {
        var use = CredentialUse.ForWrite(write, "");
        switch (write.Operation.Value)
        {
            case "email.send":
            case "email.draft":
            {
                var mail = MailOf(write.Arguments);
                if (MailComposer.Validate(mail) is { } problem) return WriteOutcome.Permanent($"invalid {problem.Field}: {problem.Reason}");
                var raw = MailComposer.Compose(mail, MailComposer.MessageIdFor(write.Marker.Value), clock.GetUtcNow());
                if (write.Operation.Value == "email.send")
                {
                    var r = await CallAsync(use, t => api.SendAsync(t, raw, cancellationToken), cancellationToken).ConfigureAwait(false);
                    return r.Ok && Str(r.Body, "id") is { Length: > 0 } id ? new WriteOutcome.Done(id) : r.Ok ? WriteOutcome.Permanent("send answered without an id") : Failure(r);
                }
                var d = await CallAsync(use, t => api.CreateDraftAsync(t, raw, cancellationToken), cancellationToken).ConfigureAwait(false);
                if (!d.Ok) return Failure(d);
                var draftId = Str(d.Body, "id");
                if (string.IsNullOrEmpty(draftId) || draftId.Length > 256) return WriteOutcome.Permanent("drafts.create answered without an id");
                return new WriteOutcome.Done(draftId, JsonSerializer.SerializeToElement(new { draft_id = draftId, to = mail.To, subject = mail.Subject }));
            }
            case "email.delete":
            case "email.bulk_delete":
            {
                var ids = write.Operation.Value == "email.delete" ? [Str(write.Arguments, "message_id")] : Ids(write.Arguments);
                foreach (var id in ids)
                {
                    var r = await CallAsync(use, t => api.TrashAsync(t, id, cancellationToken), cancellationToken).ConfigureAwait(false);
                    if (r.Status == GoogleStatus.NotFound) continue; // gone already: nothing left to trash
                    if (!r.Ok) return Failure(r);
                }
                return new WriteOutcome.Done(ids.Length == 1 ? ids[0] : ids.Length.ToString(CultureInfo.InvariantCulture) + " messages");
            }
            case "email.move":
            {
                var id = Str(write.Arguments, "message_id");
                var r = await CallAsync(use, t => api.ModifyAsync(t, id, Strings(write.Arguments, "add_labels"), Strings(write.Arguments, "remove_labels"), cancellationToken), cancellationToken).ConfigureAwait(false);
                return r.Ok ? new WriteOutcome.Done(id) : Failure(r);
            }
            default:
                return WriteOutcome.Permanent("not a Gmail write: " + write.Operation.Value);
        }
    }

    /// <inheritdoc />
    public async Task<ExecutedLookup> FindExecutedAsync(WriteExecution write, CancellationToken cancellationToken)
    {
        // trash, untrash and label changes are idempotent: executing them again is harmless
        if (write.Operation.Value != "email.send") return ExecutedLookup.Absent;
        var q = "rfc822msgid:" + MailComposer.MessageIdFor(write.Marker.Value).Trim('<', '>');
        var r = await CallAsync(CredentialUse.ForWrite(write, ""), t => api.ListMessagesAsync(t, q, ["SENT"], null, 5, true, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (!r.Ok) return new ExecutedLookup.Unknown("messages.list: " + r.Reason);
        var found = Array(r.Body, "messages").Select(m => Str(m, "id")).FirstOrDefault(GmailApiClient.IsValidId);
        return found is null ? ExecutedLookup.Absent : new ExecutedLookup.Found(found);
    }

    /// <inheritdoc />
    public async Task<WriteOutcome> ApplyRollbackAsync(RollbackPoint point, WriteExecution write, CancellationToken cancellationToken)
    {
        var use = CredentialUse.ForWrite(write, "") with { Purpose = "rollback" };
        switch (point.Kind)
        {
            case "untrash":
            {
                var ids = Array(point.Data, "messages").Select(m => Str(m, "id")).Where(GmailApiClient.IsValidId).ToList();
                foreach (var id in ids)
                {
                    var r = await CallAsync(use, t => api.UntrashAsync(t, id, cancellationToken), cancellationToken).ConfigureAwait(false);
                    if (!r.Ok) return Failure(r);
                }
                return new WriteOutcome.Done(string.Join(",", ids));
            }
            case "reverse_labels":
            {
                var id = Str(point.Data, "message_id");
                var r = await CallAsync(use, t => api.ModifyAsync(t, id, GmailReplica.Strings(point.Data, "removed"), GmailReplica.Strings(point.Data, "added"), cancellationToken), cancellationToken).ConfigureAwait(false);
                return r.Ok ? new WriteOutcome.Done(id) : Failure(r);
            }
            default:
                return WriteOutcome.Permanent("unknown rollback kind");
        }
    }

    /// <summary>
    /// Fetches a message's body (<c>format=full</c>) for <c>email.read</c>, the credential use attributed to the reading
    /// agent. Null body with the failure when it could not be had; NotFound when the message is gone.
    /// </summary>
    public async Task<(GmailBody? Body, GoogleResponse Response)> FetchBodyAsync(string id, CredentialUse use, CancellationToken ct)
    {
        var r = await CallAsync(use, t => api.GetMessageAsync(t, id, "full", ct), ct).ConfigureAwait(false);
        return r.Ok ? (GmailMessages.ReadBody(r.Body), r) : (null, r);
    }

    /// <summary>
    /// Runs one API request with a lent access token; on 401 refreshes once and repeats. A token that cannot be had is a
    /// transient failure unless the refresh was refused for good (then the entry is flagged and it is permanent).
    /// </summary>
    internal async Task<GoogleResponse> CallAsync(CredentialUse use, Func<string, Task<GoogleResponse>> request, CancellationToken ct)
    {
        var token = await tokens.AccessAsync(use, forceRefresh: false, ct).ConfigureAwait(false);
        if (!token.Ok) return new GoogleResponse(token.Status == GoogleStatus.Permanent ? GoogleStatus.Permanent : GoogleStatus.Transient, default, token.Reason, null);
        var r = await request(token.Token!).ConfigureAwait(false);
        if (r.Status != GoogleStatus.Unauthorized) return r;
        token = await tokens.AccessAsync(use, forceRefresh: true, ct).ConfigureAwait(false);
        if (!token.Ok) return new GoogleResponse(token.Status == GoogleStatus.Permanent ? GoogleStatus.Permanent : GoogleStatus.Transient, default, token.Reason, null);
        r = await request(token.Token!).ConfigureAwait(false);
        return r.Status == GoogleStatus.Unauthorized ? r with { Status = GoogleStatus.Transient } : r;
    }

    /// <summary>The outgoing mail of an <c>email.send</c>/<c>email.draft</c>'s arguments (defaults per spec §8.7).</summary>
    public static OutgoingMail MailOf(JsonElement a) => new(
        Str(a, "to"), Opt(a, "subject") ?? "(no subject)", Opt(a, "body") ?? "", Opt(a, "from") ?? "me", Opt(a, "cc"), Opt(a, "bcc"));

    private static WriteOutcome.Failed Failure(GoogleResponse r) =>
        r.Status is GoogleStatus.Transient or GoogleStatus.Unauthorized ? WriteOutcome.Transient(r.Reason ?? "provider error", r.RetryAfter)
        : WriteOutcome.Permanent(r.Reason ?? "provider refused");

    private static void Note(JsonElement entry, HashSet<string> ids)
    {
        if (MessageId(entry) is { } id) ids.Add(id);
    }

    private static string? MessageId(JsonElement entry) =>
        entry.TryGetProperty("message", out var m) && Str(m, "id") is { } id && GmailApiClient.IsValidId(id) ? id : null;

    private static (string, string, string)? LabelOf(JsonElement l)
    {
        var id = Str(l, "id");
        if (!GmailApiClient.IsValidId(id)) return null;
        var name = Str(l, "name");
        return (id, string.IsNullOrEmpty(name) || name.Length > 256 ? id : name, Str(l, "type") == "system" ? "system" : "user");
    }

    private static IEnumerable<JsonElement> Array(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var a) && a.ValueKind == JsonValueKind.Array ? a.EnumerateArray() : [];

    private static string Str(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "" : "";

    private static string? Opt(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string[] Strings(JsonElement e, string name) => [.. GmailReplica.Strings(e, name)];

    private static string[] Ids(JsonElement e) => [.. GmailReplica.Strings(e, "message_ids").Where(GmailApiClient.IsValidId).Distinct(StringComparer.Ordinal)];
}
