using Xunit;
using System.Text.Json;
using KruxOS.Proxy;
using KruxOS.Proxy.Gmail;

namespace KruxOS.Gateway.Tests.Gmail;

/// <summary>The Gmail adapter against the fake Gmail API: sync into the replica, writes, idempotency and rollbacks.</summary>
public sealed class GmailAdapterSpecs
{
    private static readonly CancellationToken Ct = TestContext.Current.CancellationToken;

    [Fact]
    public async Task Should_sync_initially_then_incrementally_and_answer_reads_without_provider_calls()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var g = rig.Google;
        var report = g.AddMessage("Alice <alice@example.com>", "operator@example.com", "Quarterly report", "Numbers attached", "<p>Numbers</p>", withAttachment: true);
        var lunch = g.AddMessage("bob@example.com", "operator@example.com", "Lunch?", "Noon at the usual place", labels: ["INBOX"]);
        var spam = g.AddMessage("spam@example.com", "operator@example.com", "WIN", "click", labels: ["SPAM"]);
        await using var db = await rig.ReplicaAsync();

        var first = await rig.Adapter.SyncAsync(new SyncRequest(db, null, null), Ct);

        Assert.True(first.Ok, first.Error);
        Assert.Equal(2, first.Entries); // spam is not listed by default
        var calls = g.GmailCalls;
        var (all, total) = await GmailReplica.SearchAsync(db, null, null, null, 20, 0, Ct);
        Assert.Equal(2, total);
        var r = Assert.Single(all, m => m.Id == report);
        Assert.True(r.HasAttachments);
        Assert.False(r.IsRead);
        Assert.Equal("Alice <alice@example.com>", r.From);
        Assert.True(Assert.Single(all, m => m.Id == lunch).IsRead);
        Assert.Equal(lunch, Assert.Single((await GmailReplica.SearchAsync(db, "LUNCH", null, null, 20, 0, Ct)).Messages).Id);
        Assert.Equal(report, Assert.Single((await GmailReplica.SearchAsync(db, null, "UNREAD", null, 20, 0, Ct)).Messages).Id);
        Assert.Equal(report, Assert.Single((await GmailReplica.SearchAsync(db, null, null, false, 20, 0, Ct)).Messages).Id);
        Assert.Empty((await GmailReplica.SearchAsync(db, "%", null, null, 20, 0, Ct)).Messages); // no LIKE wildcards
        Assert.Equal(calls, g.GmailCalls); // reads cost no provider call

        // changes at the provider: a new message, a trashed one, a relabelled one
        var fresh = g.AddMessage("carol@example.com", "operator@example.com", "New", "hello");
        await rig.Api.TrashAsync(rig.Credentials.Current!.AccessToken, lunch, Ct);
        await rig.Api.ModifyAsync(rig.Credentials.Current!.AccessToken, report, ["Label_9"], ["UNREAD"], Ct);

        var second = await rig.Adapter.SyncAsync(new SyncRequest(db, first.Cursor, g.Account), Ct);

        Assert.True(second.Ok, second.Error);
        Assert.NotEqual(first.Cursor, second.Cursor);
        Assert.Equal(0, g.Calls("gmail.messages.list") - 1); // incremental: history only, no listing
        var ids = (await GmailReplica.SearchAsync(db, null, null, null, 20, 0, Ct)).Messages.Select(m => m.Id).ToList();
        Assert.Contains(fresh, ids);
        Assert.DoesNotContain(lunch, ids); // in Trash: hidden unless asked for
        Assert.Equal(lunch, Assert.Single((await GmailReplica.SearchAsync(db, null, "TRASH", null, 20, 0, Ct)).Messages).Id);
        var relabelled = (await GmailReplica.GetAsync(db, report, Ct))!;
        Assert.Contains("Label_9", relabelled.Labels);
        Assert.True(relabelled.IsRead);
        Assert.Null(await GmailReplica.GetAsync(db, spam, Ct));
    }

    [Fact]
    public async Task Should_see_attachments_in_the_sync_as_Gmail_answers_it_without_downloading_a_single_body()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var g = rig.Google;
        var plain = g.AddMessage("a@example.com", "operator@example.com", "text only", "hello", "<p>hello</p>");
        var attached = g.AddMessage("b@example.com", "operator@example.com", "report", "see attached", withAttachment: true);
        var forwarded = g.AddMessage("c@example.com", "operator@example.com", "fwd: fwd: report", "below", withAttachment: true, attachmentDepth: 4);
        var token = rig.Credentials.Current!.AccessToken;
        await using var db = await rig.ReplicaAsync();

        // what Gmail answers to format=metadata: the headers, no MIME parts — the attachment cannot be seen there
        var metadata = await rig.Api.GetMessageAsync(token, attached, "metadata", Ct);
        Assert.True(metadata.Ok, metadata.Reason);
        Assert.False(metadata.Body.GetProperty("payload").TryGetProperty("parts", out _));
        Assert.False(GmailMessages.ReadMeta(metadata.Body)!.HasAttachments);
        // a selection of a field the resource does not have is refused (400), as Google does: the sync's selection is valid
        Assert.Equal(GoogleStatus.Permanent, (await rig.Api.GetMessageAsync(token, attached, "full", "payload(attachments)", Ct)).Status);
        var served = g.BodiesServed;

        var first = await rig.Adapter.SyncAsync(new SyncRequest(db, null, null), Ct);

        Assert.True(first.Ok, first.Error);
        Assert.False((await GmailReplica.GetAsync(db, plain, Ct))!.HasAttachments);
        Assert.True((await GmailReplica.GetAsync(db, attached, Ct))!.HasAttachments);
        Assert.True((await GmailReplica.GetAsync(db, forwarded, Ct))!.HasAttachments);
        Assert.Equal("report", (await GmailReplica.GetAsync(db, attached, Ct))!.Subject);
        Assert.Equal(served, g.BodiesServed); // the structure came without any body data

        // the incremental path reads the same structure
        var later = g.AddMessage("d@example.com", "operator@example.com", "another", "attached again", withAttachment: true, attachmentDepth: 2);
        var second = await rig.Adapter.SyncAsync(new SyncRequest(db, first.Cursor, g.Account), Ct);

        Assert.True(second.Ok, second.Error);
        Assert.True((await GmailReplica.GetAsync(db, later, Ct))!.HasAttachments);
        Assert.Equal(served, g.BodiesServed);
    }

    [Fact]
    public async Task Should_resync_from_scratch_when_the_history_is_gone()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        rig.Google.AddMessage("a@example.com", "operator@example.com", "one", "1");
        await using var db = await rig.ReplicaAsync();
        var first = await rig.Adapter.SyncAsync(new SyncRequest(db, null, null), Ct);
        rig.Google.ResetMailbox();
        rig.Google.AddMessage("b@example.com", "operator@example.com", "two", "2");

        var again = await rig.Adapter.SyncAsync(new SyncRequest(db, "1", null), Ct);

        Assert.True(again.Ok, again.Error);
        Assert.Equal(1, again.Entries);
        Assert.Equal("two", Assert.Single((await GmailReplica.SearchAsync(db, null, null, null, 20, 0, Ct)).Messages).Subject);
        Assert.NotNull(first.Cursor);
    }

    [Fact]
    public async Task Should_report_a_failed_sync_without_touching_the_replica()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        rig.Google.AddMessage("a@example.com", "operator@example.com", "one", "1");
        await using var db = await rig.ReplicaAsync();
        rig.Google.FailNext("gmail.messages.get", 1, 500);

        var failed = await rig.Adapter.SyncAsync(new SyncRequest(db, null, null), Ct);

        Assert.False(failed.Ok);
        Assert.Contains("HTTP 500", failed.Error, StringComparison.Ordinal);
        Assert.Equal(0, await GmailReplica.CountAsync(db, Ct));
    }

    [Fact]
    public async Task Should_send_with_the_marker_as_message_id_and_find_it_afterwards()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var write = Writes.For("email.send", new { to = "bob@example.com", subject = "Hello", body = "Hi Bob", from = "me" });
        Assert.IsType<ExecutedLookup.NotFound>(await rig.Adapter.FindExecutedAsync(write, Ct));

        var done = Assert.IsType<WriteOutcome.Done>(await rig.Adapter.ExecuteAsync(write, Ct));

        var raw = Assert.Single(rig.Google.SentRaw);
        var (headers, _) = FakeGoogleRfc822(raw);
        Assert.Equal(MailComposer.MessageIdFor(write.Marker.Value), headers["message-id"]);
        var found = Assert.IsType<ExecutedLookup.Found>(await rig.Adapter.FindExecutedAsync(write with { Attempt = 2 }, Ct));
        Assert.Equal(done.ProviderReference, found.ProviderReference);
        // another write's marker is not found
        Assert.IsType<ExecutedLookup.NotFound>(await rig.Adapter.FindExecutedAsync(Writes.For("email.send", new { to = "bob@example.com" }), Ct));
        Assert.Equal(1, rig.Google.Calls("gmail.messages.send"));
        Assert.All(rig.Credentials.Uses.Where(u => u.Purpose == "execute"), u => Assert.Equal("mailer", u.Agent!.Value.Value));
    }

    [Fact]
    public async Task Should_classify_provider_failures_as_transient_or_permanent()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var write = Writes.For("email.send", new { to = "bob@example.com", subject = "s", body = "b", from = "me" });
        rig.Google.FailNext("gmail.messages.send", 1, 503);
        Assert.Equal(WriteFailureKind.Transient, Assert.IsType<WriteOutcome.Failed>(await rig.Adapter.ExecuteAsync(write, Ct)).Kind);
        rig.Google.FailNext("gmail.messages.send", 1, 429);
        Assert.Equal(WriteFailureKind.Transient, Assert.IsType<WriteOutcome.Failed>(await rig.Adapter.ExecuteAsync(write, Ct)).Kind);
        rig.Google.FailNext("gmail.messages.send", 1, 400);
        var permanent = Assert.IsType<WriteOutcome.Failed>(await rig.Adapter.ExecuteAsync(write, Ct));
        Assert.Equal(WriteFailureKind.Permanent, permanent.Kind);
        Assert.Empty(rig.Google.SentRaw);
        Assert.DoesNotContain(rig.Credentials.Current!.AccessToken, permanent.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_trash_and_roll_back_with_untrash_to_the_labels_before()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var id = rig.Google.AddMessage("a@example.com", "operator@example.com", "keep me", "x", labels: ["INBOX", "Label_2"]);
        var write = Writes.For("email.delete", new { message_id = id });

        var capture = Assert.IsType<RollbackCapture.Captured>(await rig.Adapter.CaptureRollbackAsync(write, Ct));
        Assert.Equal("untrash", capture.Point.Kind);
        Assert.IsType<WriteOutcome.Done>(await rig.Adapter.ExecuteAsync(write with { Rollback = capture.Point }, Ct));
        Assert.Contains("TRASH", rig.Google.LabelsOf(id)!);

        Assert.IsType<WriteOutcome.Done>(await rig.Adapter.ApplyRollbackAsync(capture.Point, write, Ct));

        Assert.Equal(["INBOX", "Label_2"], Writes.Labels(rig.Google.LabelsOf(id)));
        Assert.Equal(1, rig.Google.Calls("gmail.messages.untrash"));
    }

    [Fact]
    public async Task Should_move_and_reverse_exactly_the_labels_the_move_changed()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var id = rig.Google.AddMessage("a@example.com", "operator@example.com", "file me", "x", labels: ["INBOX", "Label_1"]);
        // Label_1 is already there, Label_5 is not there: neither is changed by the move, so neither is reversed
        var write = Writes.For("email.move", new { message_id = id, add_labels = new[] { "Label_1", "Label_3" }, remove_labels = new[] { "INBOX", "Label_5" } });

        var capture = Assert.IsType<RollbackCapture.Captured>(await rig.Adapter.CaptureRollbackAsync(write, Ct));
        Assert.Equal(["Label_3"], capture.Point.Data.GetProperty("added").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(["INBOX"], capture.Point.Data.GetProperty("removed").EnumerateArray().Select(e => e.GetString()));
        Assert.IsType<WriteOutcome.Done>(await rig.Adapter.ExecuteAsync(write, Ct));
        Assert.Equal(["Label_1", "Label_3"], Writes.Labels(rig.Google.LabelsOf(id)));

        Assert.IsType<WriteOutcome.Done>(await rig.Adapter.ApplyRollbackAsync(capture.Point, write, Ct));

        Assert.Equal(["INBOX", "Label_1"], Writes.Labels(rig.Google.LabelsOf(id)));
    }

    [Fact]
    public async Task Should_create_a_draft_at_once_and_send_nothing()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var done = Assert.IsType<WriteOutcome.Done>(await rig.Adapter.ExecuteAsync(Writes.For("email.draft", new { to = "bob@example.com", subject = "Draft", body = "later", from = "me" }), Ct));
        Assert.Equal(done.ProviderReference, done.Result!.Value.GetProperty("draft_id").GetString());
        Assert.Equal(1, rig.Google.DraftCount);
        Assert.Empty(rig.Google.SentRaw);
    }

    [Fact]
    public async Task Should_fetch_a_body_and_read_both_text_kinds()
    {
        await using var rig = await GmailRig.StartAsync();
        rig.Connect();
        var id = rig.Google.AddMessage("a@example.com", "operator@example.com", "s", "plain ünïcode", "<b>html</b>");
        var (body, _) = await rig.Adapter.FetchBodyAsync(id, new CredentialUse(GmailTokens.Service, "", "read"), Ct);
        Assert.Equal("plain ünïcode", body!.TextPlain);
        Assert.Equal("<b>html</b>", body.TextHtml);
        var (missing, response) = await rig.Adapter.FetchBodyAsync("ffff", new CredentialUse(GmailTokens.Service, "", "read"), Ct);
        Assert.Null(missing);
        Assert.Equal(GoogleStatus.NotFound, response.Status);
    }

    [Fact]
    public void Should_read_hostile_message_resources_without_throwing()
    {
        foreach (var json in new[]
                 {
                     "{}", "[]", "{\"id\":\"../../x\"}", "{\"id\":\"abc\",\"labelIds\":[1,null,\"INBOX\",\"../\"],\"internalDate\":\"-5\"}",
                     "{\"id\":\"abc\",\"payload\":{\"parts\":[{\"mimeType\":\"text/plain\",\"body\":{\"data\":\"!!!\"}}]}}",
                     "{\"id\":\"abc\",\"payload\":" + string.Concat(Enumerable.Repeat("{\"parts\":[", 30)) + "{}" + string.Concat(Enumerable.Repeat("]}", 30)) + "}",
                 })
        {
            using var doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 200 });
            var meta = GmailMessages.ReadMeta(doc.RootElement);
            _ = GmailMessages.ReadBody(doc.RootElement);
            if (meta is not null) Assert.All(meta.Labels, l => Assert.True(GmailApiClient.IsValidId(l)));
        }
        using var bad = JsonDocument.Parse("{\"id\":\"../../x\"}");
        Assert.Null(GmailMessages.ReadMeta(bad.RootElement));
    }

    private static (Dictionary<string, string> Headers, string Body) FakeGoogleRfc822(string raw) => KruxOS.Testing.Fakes.FakeGoogle.ParseRfc822(raw);
}
