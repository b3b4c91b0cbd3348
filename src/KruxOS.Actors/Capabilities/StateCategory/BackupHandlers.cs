using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.State.Backups;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.State;
using KruxOS.Core.State.Backups;
using KruxOS.Sandbox;

namespace KruxOS.Actors.Capabilities.StateCategory;

/// <summary>
/// <c>state.backup.create</c> (approval_required by default): the caller's own state (<c>agent</c> = its name) or everything
/// (<c>agent</c> omitted), encrypted under the vault's backup key. Never another agent's state alone.
/// </summary>
[Capability("state.backup.create")]
public sealed class StateBackupCreateHandler(BackupService backups) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var caller = context.Session.Agent;
        var requested = StateCalls.OptionalText(arguments, "agent");
        if (BackupCatalog.AgentCreateRefusal(caller, requested) is { } denied) throw new CapabilityException(denied);
        return StateCalls.Answer(await backups.CreateAsync(requested is null ? null : caller, cancellationToken).ConfigureAwait(false));
    }
}

/// <summary><c>state.backup.list</c>: the caller's own backups and full ones, newest first (another agent's backups are not shown).</summary>
[Capability("state.backup.list")]
public sealed class StateBackupListHandler(BackupService backups) : ICapabilityHandler
{
    public ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ValueTask.FromResult(StateCalls.Answer(backups.List(BackupCaller.ForAgent(context.Session.Agent))));
    }
}

/// <summary>
/// <c>state.backup.restore</c> (approval_required by default): the caller's own persistent state from its backup or its part of
/// a full one. Another agent's backup is <c>BackupNotFound</c>; shared state is restored by the operator only.
/// </summary>
[Capability("state.backup.restore")]
public sealed class StateBackupRestoreHandler(BackupService backups) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        return StateCalls.Answer(await backups.RestoreAsync(StateCalls.Text(arguments, "backup_id"),
            new BackupRestoreRequest(StateCalls.OptionalText(arguments, "agent")), BackupCaller.ForAgent(context.Session.Agent), cancellationToken).ConfigureAwait(false));
    }
}

/// <summary>
/// <c>state.backup.export</c> (approval_required by default): a copy of one of the caller's own backups (still encrypted) in its
/// workspace. The gateway only reads its own file; every write is done by the agent's sandbox worker, as the agent's uid,
/// with the path rules of <c>filesystem.write</c> (<see cref="ISandbox.StreamFileAsync"/>, as <c>network.download</c>): a temp
/// file beside the target, appended chunk by chunk and renamed into place. A directory keeps the file name
/// (<c>{backup_id}.kbak</c>); a file path is used as given and never overwritten.
/// </summary>
[Capability("state.backup.export")]
public sealed class StateBackupExportHandler(BackupService backups, ISandbox sandbox) : ICapabilityHandler, IPathResolvingHandler
{
    private const int ChunkBytes = 256 * 1024;
    private static readonly TimeSpan StageTimeout = TimeSpan.FromSeconds(60);

    /// <inheritdoc />
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var agent = context.Session.Agent;
        var backupId = StateCalls.Text(arguments, "backup_id");
        var path = StateCalls.Text(arguments, "path");
        var (file, header, error) = backups.Locate(backupId, BackupCaller.ForAgent(agent));
        if (file is null || header is null) throw new CapabilityException(error ?? BackupErrors.NotFound(backupId));
        if (BackupCatalog.AgentExportRefusal(agent, header.Scope) is { } denied) throw new CapabilityException(denied);

        var target = path.EndsWith('/') ? path + backupId + BackupFormat.Extension : path;
        var (begun, refusal) = await TryStageAsync(agent, new JsonObject { ["stage"] = "begin", ["path"] = target, ["overwrite"] = false }, context.PathsDecided, cancellationToken)
            .ConfigureAwait(false);
        if (begun is null && refusal?.ErrorType == "IsADirectory" && !path.EndsWith('/'))
        {
            target = path + "/" + backupId + BackupFormat.Extension;
            (begun, refusal) = await TryStageAsync(agent, new JsonObject { ["stage"] = "begin", ["path"] = target, ["overwrite"] = false }, context.PathsDecided, cancellationToken)
                .ConfigureAwait(false);
        }
        if (begun is not { } started) throw new CapabilityException(refusal ?? Errors.Internal("the sandbox did not start the export"));
        var temp = started.GetProperty("temp").GetString()!;
        try
        {
            await using (var stream = BackupStore.OpenRead(file.FullName))
            {
                var buffer = new byte[ChunkBytes];
                int filled;
                while ((filled = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false)) > 0)
                {
                    await StageAsync(agent, new JsonObject
                    {
                        ["stage"] = "chunk", ["path"] = target, ["temp"] = temp, ["content"] = Convert.ToBase64String(buffer, 0, filled),
                    }, context.PathsDecided, cancellationToken).ConfigureAwait(false);
                    if (filled < buffer.Length) break;
                }
            }
            var committed = await StageAsync(agent, new JsonObject
            {
                ["stage"] = "commit", ["path"] = target, ["temp"] = temp, ["overwrite"] = false,
            }, context.PathsDecided, cancellationToken).ConfigureAwait(false);
            temp = string.Empty;
            return StateCalls.Answer(new BackupReplies.ExportResult(committed.GetProperty("path").GetString()!, committed.GetProperty("size").GetInt64()));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CapabilityException(BackupErrors.IoError("export", e.GetType().Name));
        }
        finally
        {
            if (temp.Length > 0) await AbortAsync(agent, target, temp, context.PathsDecided).ConfigureAwait(false);
        }
    }

    private async Task<(JsonElement? Data, StructuredError? Error)> TryStageAsync(AgentName agent, JsonObject stage, bool pathsDecided, CancellationToken ct)
    {
        var result = await sandbox.StreamFileAsync(agent, JsonSerializer.SerializeToElement(stage), pathsDecided, StageTimeout, ct).ConfigureAwait(false);
        return result.IsSuccess && result.Data is { } data ? (data, null) : (null, result.Error ?? Errors.Internal("the sandbox did not answer the export stage"));
    }

    private async Task<JsonElement> StageAsync(AgentName agent, JsonObject stage, bool pathsDecided, CancellationToken ct)
    {
        var (data, error) = await TryStageAsync(agent, stage, pathsDecided, ct).ConfigureAwait(false);
        return data ?? throw new CapabilityException(error!);
    }

    private async Task AbortAsync(AgentName agent, string path, string temp, bool pathsDecided)
    {
        using var bounded = new CancellationTokenSource(StageTimeout);
        try
        {
            await sandbox.StreamFileAsync(agent, JsonSerializer.SerializeToElement(new JsonObject { ["stage"] = "abort", ["path"] = path, ["temp"] = temp }),
                pathsDecided, StageTimeout, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The temp file is hidden and named as the worker's temp files are; the call's error is what matters here.
        }
    }

    /// <inheritdoc />
    public async Task<PathResolution> ResolvePathsAsync(AgentName agent, JsonElement arguments, IReadOnlyList<string> names, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(names);
        var given = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var n in names)
            if (arguments.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.String) given[n] = v.GetString()!;
        if (given.Count == 0) return new PathResolution(arguments, null);
        var result = await sandbox.ResolvePathsAsync(agent, Core.Capabilities.CapabilityName.Parse("state.backup.export"), given, cancellationToken).ConfigureAwait(false);
        if (!result.IsSuccess) return new PathResolution(null, result.Error, result.PathEscape);
        if (result.Data is not { } data || !data.TryGetProperty("paths", out var paths) || paths.ValueKind != JsonValueKind.Object)
            return new PathResolution(null, Errors.Internal("the sandbox did not resolve the call's paths"));
        var resolved = JsonNode.Parse(arguments.GetRawText())!.AsObject();
        foreach (var n in given.Keys)
        {
            if (!paths.TryGetProperty(n, out var r) || r.ValueKind != JsonValueKind.String)
                return new PathResolution(null, Errors.Internal($"the sandbox did not resolve '{n}'"));
            resolved[n] = r.GetString();
        }
        return new PathResolution(JsonSerializer.SerializeToElement(resolved), null);
    }
}
