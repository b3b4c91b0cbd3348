using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Actors.Hosting;
using KruxOS.Audit;
using KruxOS.Core.Admin;

namespace KruxOS.Actors.Audit;

/// <summary>What a retention run did, under the retention in force.</summary>
public sealed record RetentionReport(int RetentionDays, RetentionResult Result);

/// <summary>Audit maintenance for every adapter (<c>kruxos audit rotate</c>).</summary>
public sealed class AuditAdmin(IRequiredActor<AuditWriter> audit, KruxOsSettings settings)
{
    /// <summary>Retention reads every expiring file for its anchor before deleting it: allow it more than a plain request.</summary>
    private static readonly TimeSpan RotateTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Runs retention now (the writer's maintenance child answers) and reports what it did.</summary>
    public Task<AdminResult<RetentionReport>> RotateAsync(CancellationToken ct) => AdminCalls.Guarded<RetentionReport>(async () =>
    {
        var writer = await audit.GetAsync(ct).ConfigureAwait(false);
        try
        {
            var result = await writer.Ask<RetentionResult>(AuditCommands.RunRetention.Instance, RotateTimeout, ct).ConfigureAwait(false);
            return new RetentionReport(settings.Audit.RetentionDays, result);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.Text.Json.JsonException
                                      or Microsoft.Data.Sqlite.SqliteException)
        {
            return new AdminError(AdminErrorKind.Failed, "audit_error", $"retention failed: {e.Message}");
        }
    });
}
