using System.CommandLine;
using System.Text.Json.Nodes;
using KruxOS.Cli.Setup;
using KruxOS.Core.Control;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary>
/// <c>kruxos backup create|list|restore|verify|export</c> over the control socket (ADR 0042). A backup made under another
/// vault (a fresh data directory) is restored or verified with <c>--passphrase-stdin</c>: that vault's passphrase, read
/// from a prompt or one line of stdin — never from the command line. <c>export</c> copies the kept (still encrypted) file
/// to a new file of the operator's choosing, as the CLI's own user.
/// </summary>
public static class BackupCli
{
    /// <summary>The <c>backup</c> command.</summary>
    public static Command Build(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json, SetupConsole? console)
    {
        var backup = new Command("backup", "Create, list, verify, restore and export encrypted state backups");

        var agent = new Option<string?>("--agent") { Description = "One agent's state only (default: every agent and shared state)" };
        var create = new Command("create", "Create an encrypted backup (full by default); old ones beyond the retention are deleted") { agent, json };
        create.SetAction((p, ct) => Call(client, stdout, stderr, M.BackupCreate, new JsonObject { ["agent"] = p.GetValue(agent) }, p.GetValue(json),
            r => $"Created {Str(r, "backup_id")} ({Str(r, "scope")}, {Str(r, "file_size_bytes")} bytes).\n", ct));
        backup.Subcommands.Add(create);

        var list = new Command("list", "List the kept backups, newest first") { json };
        list.SetAction((p, ct) => Call(client, stdout, stderr, M.BackupList, null, p.GetValue(json), RenderList, ct));
        backup.Subcommands.Add(list);

        var passphraseStdin = new Option<bool>("--passphrase-stdin")
        {
            Description = "The backup was made under another vault (another data directory): ask for that vault's passphrase (prompt, or one line of stdin)",
        };
        var restoreId = new Argument<string>("backup-id") { Description = "The backup (bkp-...)" };
        var restoreAgent = new Option<string?>("--agent") { Description = "Restore only this agent's persistent state" };
        var restore = new Command("restore", "Restore a backup: agents' persistent state (and shared state for a full backup) become the backed-up state")
            { restoreId, restoreAgent, passphraseStdin, json };
        restore.SetAction(async (p, ct) =>
        {
            var parameters = new JsonObject { ["backup_id"] = p.GetValue(restoreId), ["agent"] = p.GetValue(restoreAgent) };
            if (p.GetValue(passphraseStdin) && !await AddPassphraseAsync(parameters, console, stdout, stderr).ConfigureAwait(false)) return CliApp.Usage;
            return await Call(client, stdout, stderr, M.BackupRestore, parameters, p.GetValue(json),
                r => $"Restored {p.GetValue(restoreId)}: agents [{string.Join(", ", r!["agents_restored"]!.AsArray().Select(a => a!.ToString()))}], " +
                     $"{Str(r, "persistent_keys")} persistent keys; shared state {(r["shared_state_restored"]!.GetValue<bool>() ? Str(r, "shared_keys") + " keys" : "not restored")}.\n",
                ct).ConfigureAwait(false);
        });
        backup.Subcommands.Add(restore);

        var verifyId = new Argument<string>("backup-id") { Description = "The backup (bkp-...)" };
        var verify = new Command("verify", "Decrypt and check a backup without restoring it") { verifyId, passphraseStdin, json };
        verify.SetAction(async (p, ct) =>
        {
            var parameters = new JsonObject { ["backup_id"] = p.GetValue(verifyId) };
            if (p.GetValue(passphraseStdin) && !await AddPassphraseAsync(parameters, console, stdout, stderr).ConfigureAwait(false)) return CliApp.Usage;
            return await Call(client, stdout, stderr, M.BackupVerify, parameters, p.GetValue(json),
                r => $"PASS {Str(r, "backup_id")}: {Str(r, "scope")}, created {Str(r, "created_at")}, {r!["agents"]!.AsArray().Count} agent(s), " +
                     $"{Str(r, "persistent_keys")} persistent keys, {Str(r, "shared_keys")} shared keys, {Str(r, "file_size_bytes")} bytes.\n", ct).ConfigureAwait(false);
        });
        backup.Subcommands.Add(verify);

        var exportId = new Argument<string>("backup-id") { Description = "The backup (bkp-...)" };
        var output = new Option<string>("--out") { Description = "A new file to write (never overwritten), or an existing directory", Required = true };
        var export = new Command("export", "Copy a kept backup (still encrypted) to a new file") { exportId, output, json };
        export.SetAction(async (p, ct) =>
        {
            var r = await client.CallAsync(M.BackupExport, new JsonObject { ["backup_id"] = p.GetValue(exportId) }, ct).ConfigureAwait(false);
            if (!r.Ok)
            {
                await stderr.WriteLineAsync($"error: {r.ErrorMessage} ({r.ErrorType})").ConfigureAwait(false);
                return CliApp.Refused;
            }
            var source = Str(r.Result, "path");
            var target = p.GetValue(output)!;
            if (Directory.Exists(target)) target = Path.Combine(target, Path.GetFileName(source));
            try
            {
                await using var from = new FileStream(source, FileMode.Open, FileAccess.Read, FileShare.Read);
                var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
                if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
                await using var to = new FileStream(target, options);
                await from.CopyToAsync(to, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await stderr.WriteLineAsync($"error: could not write {target}: {e.Message}").ConfigureAwait(false);
                return CliApp.Refused;
            }
            await stdout.WriteAsync(p.GetValue(json)
                ? new JsonObject { ["backup_id"] = p.GetValue(exportId), ["exported_path"] = target, ["size_bytes"] = new FileInfo(target).Length }.ToJsonString() + "\n"
                : $"Exported {p.GetValue(exportId)} to {target} ({new FileInfo(target).Length} bytes, encrypted).\n").ConfigureAwait(false);
            return 0;
        });
        backup.Subcommands.Add(export);

        backup.SetAction((p, ct) => Call(client, stdout, stderr, M.BackupList, null, p.GetValue(json), RenderList, ct));
        return backup;
    }

    private static async Task<bool> AddPassphraseAsync(JsonObject parameters, SetupConsole? console, TextWriter stdout, TextWriter stderr)
    {
        var passphrase = await SecretInput.ReadAsync(console ?? SetupConsole.Standard(), stdout, "Passphrase of the vault the backup was made under: ").ConfigureAwait(false);
        if (string.IsNullOrEmpty(passphrase))
        {
            await stderr.WriteLineAsync("error: no passphrase given").ConfigureAwait(false);
            return false;
        }
        parameters["passphrase"] = passphrase;
        return true;
    }

    private static string RenderList(JsonNode? r)
    {
        var rows = r!["backups"]!.AsArray();
        if (rows.Count == 0) return "No backups.\n";
        var text = new System.Text.StringBuilder();
        foreach (var b in rows)
            text.Append($"{Str(b, "backup_id"),-24} {Str(b, "created_at"),-26} {Str(b, "scope"),-24} {Str(b, "file_size_bytes")} bytes\n");
        text.Append($"{rows.Count} backup(s).\n");
        return text.ToString();
    }

    private static string Str(JsonNode? node, string key) => CliCalls.Str(node, key);

    private static Task<int> Call(ControlClient client, TextWriter stdout, TextWriter stderr, string method, JsonObject? parameters, bool asJson,
        Func<JsonNode?, string> render, CancellationToken ct) =>
        CliCalls.CallAsync(client, stdout, stderr, method, parameters ?? new JsonObject(), asJson, render, indented: false, ct);
}
