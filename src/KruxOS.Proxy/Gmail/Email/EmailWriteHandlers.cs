using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Proxy;
using Microsoft.Data.Sqlite;

namespace KruxOS.Proxy.Gmail.Email;

/// <summary>Checks shared by the write handlers.</summary>
internal static class EmailWrites
{
    /// <summary>The mail of a send/draft, validated (<c>MissingParameter</c> for no <c>to</c>, else <c>InvalidInput</c>), as normalised arguments.</summary>
    public static (OutgoingMail Mail, JsonElement Arguments) Mail(JsonElement arguments, bool withCopies)
    {
        if (string.IsNullOrWhiteSpace(EmailArgs.Str(arguments, "to"))) throw new CapabilityException(EmailErrors.MissingParameter("to"));
        var mail = GmailAdapter.MailOf(arguments);
        if (!withCopies) mail = mail with { Cc = null, Bcc = null };
        if (MailComposer.Validate(mail) is { } problem) throw new CapabilityException(EmailErrors.Invalid(problem.Field, problem.Reason));
        var normalised = new Dictionary<string, string> { ["to"] = mail.To, ["subject"] = mail.Subject, ["body"] = mail.Body, ["from"] = mail.From };
        if (mail.Cc is not null) normalised["cc"] = mail.Cc;
        if (mail.Bcc is not null) normalised["bcc"] = mail.Bcc;
        return (mail, JsonSerializer.SerializeToElement(normalised));
    }

    /// <summary>Fails with <c>MessageNotFound</c> unless every id is in the replica.</summary>
    public static async Task RequireKnownAsync(IServiceProxy proxy, IReadOnlyList<string> ids, CancellationToken ct)
    {
        await using var lease = await EmailReplicaAccess.OpenAsync(proxy, ct).ConfigureAwait(false);
        try
        {
            foreach (var id in ids)
                if (await GmailReplica.GetAsync(lease.Connection, id, ct).ConfigureAwait(false) is null)
                    throw new CapabilityException(EmailErrors.MessageNotFound(id));
        }
        catch (SqliteException) { throw new CapabilityException(EmailErrors.DatabaseError()); }
    }
}

/// <summary><c>email.send</c>: buffered (5 min by default); the Message-ID is the write's marker.</summary>
[Capability("email.send")]
public sealed class EmailSendHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var (_, normalised) = EmailWrites.Mail(arguments, withCopies: true);
        return (await proxy.SubmitAsync(context, normalised, cancellationToken).ConfigureAwait(false)).ToOutput();
    }
}

/// <summary><c>email.delete</c>: buffered (24 h); moves the message to Trash after the window; rollback untrash.</summary>
[Capability("email.delete")]
public sealed class EmailDeleteHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var id = EmailArgs.MessageId(arguments);
        await EmailWrites.RequireKnownAsync(proxy, [id], cancellationToken).ConfigureAwait(false);
        var normalised = JsonSerializer.SerializeToElement(new { message_id = id });
        return (await proxy.SubmitAsync(context, normalised, cancellationToken).ConfigureAwait(false)).ToOutput();
    }
}

/// <summary><c>email.move</c>: buffered (1 h); adds/removes labels; rollback reverses exactly what changed.</summary>
[Capability("email.move")]
public sealed class EmailMoveHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var id = EmailArgs.MessageId(arguments);
        var add = EmailArgs.Labels(arguments, "add_labels");
        var remove = EmailArgs.Labels(arguments, "remove_labels");
        if (add.Count == 0 && remove.Count == 0) throw new CapabilityException(EmailErrors.NoLabelsProvided());
        if (add.Intersect(remove, StringComparer.Ordinal).FirstOrDefault() is { } both)
            throw new CapabilityException(EmailErrors.Invalid("add_labels", $"'{both}' is both added and removed"));
        await EmailWrites.RequireKnownAsync(proxy, [id], cancellationToken).ConfigureAwait(false);
        var normalised = JsonSerializer.SerializeToElement(new { message_id = id, add_labels = add, remove_labels = remove });
        return (await proxy.SubmitAsync(context, normalised, cancellationToken).ConfigureAwait(false)).ToOutput();
    }
}

/// <summary><c>email.bulk_delete</c>: blocked by the shipped policy; where an operator allows it, every call is held for approval
/// (batch threshold 0) and then buffered like <c>email.delete</c> over all ids.</summary>
[Capability("email.bulk_delete")]
public sealed class EmailBulkDeleteHandler(IServiceProxy proxy) : ICapabilityHandler
{
    /// <summary>Most ids in one call.</summary>
    public const int MaxIds = 100;

    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        if (!arguments.TryGetProperty("message_ids", out var v) || v.ValueKind != JsonValueKind.Array || v.GetArrayLength() == 0)
            throw new CapabilityException(EmailErrors.MissingParameter("message_ids"));
        var ids = new List<string>();
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String || !GmailApiClient.IsValidId(e.GetString()))
                throw new CapabilityException(EmailErrors.Invalid("message_ids", "each entry must be a Gmail message id"));
            ids.Add(e.GetString()!);
        }
        ids = [.. ids.Distinct(StringComparer.Ordinal)];
        if (ids.Count > MaxIds) throw new CapabilityException(EmailErrors.Invalid("message_ids", $"at most {MaxIds} ids"));
        await EmailWrites.RequireKnownAsync(proxy, ids, cancellationToken).ConfigureAwait(false);
        var normalised = JsonSerializer.SerializeToElement(new { message_ids = ids });
        return (await proxy.SubmitAsync(context, normalised, cancellationToken).ConfigureAwait(false)).ToOutput();
    }
}

/// <summary><c>email.draft</c>: immediate (a draft sends nothing).</summary>
[Capability("email.draft")]
public sealed class EmailDraftHandler(IServiceProxy proxy) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        var (mail, normalised) = EmailWrites.Mail(arguments, withCopies: false);
        var outcome = await proxy.ExecuteNowAsync(context, normalised, cancellationToken).ConfigureAwait(false);
        return outcome switch
        {
            WriteOutcome.Done { Result: { } result } => result,
            WriteOutcome.Done done => CapabilityCatalog.ToElement(new { draft_id = done.ProviderReference, to = mail.To, subject = mail.Subject }),
            WriteOutcome.Failed failed => throw new CapabilityException(EmailErrors.WriteFailed(failed.Reason)),
            _ => throw new CapabilityException(EmailErrors.WriteFailed("unexpected outcome")),
        };
    }
}
