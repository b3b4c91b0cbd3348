using System.CommandLine;
using System.Text;
using System.Text.Json.Nodes;
using KruxOS.Cli.Setup;
using static KruxOS.Cli.Output;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary>
/// <c>kruxos vault status|init|unlock|lock|list|add|rotate|revoke</c> over the control socket. Passphrases and values are
/// read from a prompt that does not echo (on a terminal) or from standard input (a pipe), never from the command line,
/// where the process list and the shell history would keep them; <c>list</c> never shows a value (the gateway has none
/// to give).
/// </summary>
public static class VaultCli
{
    /// <summary>The options that would carry a secret on the command line; refused without echoing what follows them.</summary>
    private static readonly string[] SecretFlags = ["--value", "--passphrase", "--password", "--secret", "--token"];

    /// <summary>
    /// Why <paramref name="args"/> (a <c>vault</c> command line) must be refused before parsing, or null. The message never
    /// repeats an argument: a mistyped value would otherwise be printed back.
    /// </summary>
    public static string? RefuseSecretsInArgv(IReadOnlyList<string> args)
    {
        if (args.Count == 0 || args[0] is not ("vault" or "connect")) return null;
        foreach (var a in args)
            if (SecretFlags.Any(f => a.Equals(f, StringComparison.OrdinalIgnoreCase) || a.StartsWith(f + "=", StringComparison.OrdinalIgnoreCase)))
                return "values and passphrases are never taken from the command line (the process list and shell history would keep them): " +
                    "type them at the prompt or pipe them on standard input";
        return null;
    }

    public static Command Build(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json, SetupConsole? console)
    {
        var vault = new Command("vault", "The secrets vault: unlock it, and add, rotate, revoke and list secrets (values are never shown)");

        var status = new Command("status", "Show whether the vault is loading, uninitialised, locked or unlocked on this node, and what needs attention") { json };
        status.SetAction((p, ct) => Call(client, stdout, stderr, M.VaultStatus, null, p.GetValue(json), RenderStatus, ct));
        vault.Subcommands.Add(status);

        var init = new Command("init", "Initialise an empty vault with a new passphrase (asked twice on a terminal, or one line on stdin)") { json };
        init.SetAction(async (p, ct) =>
        {
            var io = console ?? SetupConsole.Standard();
            var passphrase = await SecretInput.ReadNewPassphraseAsync(io, stdout, stderr).ConfigureAwait(false);
            if (passphrase is null) return CliApp.Usage;
            return await Call(client, stdout, stderr, M.VaultInit, new JsonObject { ["passphrase"] = passphrase }, p.GetValue(json),
                r => $"Vault initialised and unlocked. Keep the passphrase safe: it cannot be recovered.\n{RenderStatus(r)}", ct).ConfigureAwait(false);
        });
        vault.Subcommands.Add(init);

        var unlock = new Command("unlock", "Unlock the vault on this node (passphrase from a prompt or stdin)") { json };
        unlock.SetAction(async (p, ct) =>
        {
            var io = console ?? SetupConsole.Standard();
            var passphrase = await SecretInput.ReadAsync(io, stdout, "Vault passphrase: ").ConfigureAwait(false);
            if (string.IsNullOrEmpty(passphrase))
            {
                await stderr.WriteLineAsync("error: no passphrase given").ConfigureAwait(false);
                return CliApp.Usage;
            }
            return await Call(client, stdout, stderr, M.VaultUnlock, new JsonObject { ["passphrase"] = passphrase }, p.GetValue(json),
                r => $"Vault unlocked.\n{RenderStatus(r)}", ct).ConfigureAwait(false);
        });
        vault.Subcommands.Add(unlock);

        var lockCmd = new Command("lock", "Lock the vault on this node (the key is zeroed; everything that needs a secret fails until unlocked)") { json };
        lockCmd.SetAction((p, ct) => Call(client, stdout, stderr, M.VaultLock, null, p.GetValue(json), r => $"Vault locked.\n{RenderStatus(r)}", ct));
        vault.Subcommands.Add(lockCmd);

        var includeRevoked = new Option<bool>("--include-revoked") { Description = "Also list revoked secrets" };
        var list = new Command("list", "List secrets: name, type, scopes, version — never values") { json, includeRevoked };
        list.SetAction((p, ct) => Call(client, stdout, stderr, M.VaultList, new JsonObject { ["include_revoked"] = p.GetValue(includeRevoked) }, p.GetValue(json),
            r => Table(["NAME", "TYPE", "CAPABILITIES", "HOSTS", "VERSION", "STATUS"],
                r!["secrets"]!.AsArray().Select(s => (IReadOnlyList<string>)[Str(s, "name"), Str(s, "type"), Joined(s!["allowed_capabilities"]),
                    Joined(s["allowed_hosts"]), Str(s, "version"),
                    s["revoked"]!.GetValue<bool>() ? "revoked" : s["needs_attention"]!.GetValue<bool>() ? "needs attention" : "active"])), ct));
        vault.Subcommands.Add(list);

        var name = new Option<string>("--name") { Description = "Secret name (letters, digits, '.', '_', '-')", Required = true };
        var type = new Option<string>("--type") { Description = "api_key or oauth_token", Required = true };
        type.AcceptOnlyFromAmong("api_key", "oauth_token");
        var caps = new Option<string[]>("--allowed-capabilities") { Description = "Capability patterns that may use it (comma or space separated; default none = unusable)", AllowMultipleArgumentsPerToken = true };
        var hosts = new Option<string[]>("--allowed-hosts") { Description = "Hosts it may be sent to (exact or *.suffix; default none)", AllowMultipleArgumentsPerToken = true };
        var add = new Command("add", "Add a secret; its value is read from a prompt or stdin") { name, type, caps, hosts, json };
        add.SetAction(async (p, ct) =>
        {
            var parameters = new JsonObject
            {
                ["name"] = p.GetValue(name),
                ["type"] = p.GetValue(type),
                ["allowed_capabilities"] = Split(p.GetValue(caps)),
                ["allowed_hosts"] = Split(p.GetValue(hosts)),
            };
            if (Split(p.GetValue(hosts)).Any(h => h?.GetValue<string>() is "*" or "*."))
                await stderr.WriteLineAsync("warning: allowed hosts '*' lets the secret be sent to any host the agent's egress policy allows").ConfigureAwait(false);
            return await WithValueAsync(client, stdout, stderr, console, M.VaultAdd, parameters, p.GetValue(json), "Secret added", ct).ConfigureAwait(false);
        });
        vault.Subcommands.Add(add);

        var rotateName = new Argument<string>("name") { Description = "Secret name" };
        var rotate = new Command("rotate", "Replace a secret's value (read from a prompt or stdin)") { rotateName, json };
        rotate.SetAction((p, ct) => WithValueAsync(client, stdout, stderr, console, M.VaultRotate, new JsonObject { ["name"] = p.GetValue(rotateName) },
            p.GetValue(json), "Secret rotated", ct));
        vault.Subcommands.Add(rotate);

        var revokeName = new Argument<string>("name") { Description = "Secret name" };
        var reason = new Option<string?>("--reason") { Description = "Why (kept with the record)" };
        var revoke = new Command("revoke", "Revoke a secret: it stays listed and is never usable again") { revokeName, reason, json };
        revoke.SetAction((p, ct) => Call(client, stdout, stderr, M.VaultRevoke,
            new JsonObject { ["name"] = p.GetValue(revokeName), ["reason"] = p.GetValue(reason) ?? "revoked by the operator" }, p.GetValue(json),
            r => $"Secret '{Str(r!["secret"], "name")}' revoked.\n", ct));
        vault.Subcommands.Add(revoke);
        return vault;
    }

    private static async Task<int> WithValueAsync(ControlClient client, TextWriter stdout, TextWriter stderr, SetupConsole? console, string method,
        JsonObject parameters, bool asJson, string done, CancellationToken ct)
    {
        var io = console ?? SetupConsole.Standard();
        var value = await SecretInput.ReadAsync(io, stdout, "Secret value (not echoed): ").ConfigureAwait(false);
        if (string.IsNullOrEmpty(value))
        {
            await stderr.WriteLineAsync("error: no value given on standard input").ConfigureAwait(false);
            return CliApp.Usage;
        }
        parameters["value"] = value;
        var r = await client.CallAsync(method, parameters, ct).ConfigureAwait(false);
        parameters.Remove("value");
        if (!r.Ok)
        {
            await stderr.WriteLineAsync($"error: {r.ErrorMessage} ({r.ErrorType})").ConfigureAwait(false);
            return CliApp.Refused;
        }
        var secret = r.Result!["secret"];
        await stdout.WriteAsync(asJson ? Json(r.Result) + "\n"
            : $"{done}: '{Str(secret, "name")}' version {Str(secret, "version")} ({Str(secret, "type")}; capabilities {Joined(secret!["allowed_capabilities"])}; hosts {Joined(secret["allowed_hosts"])}).\n")
            .ConfigureAwait(false);
        return 0;
    }

    private static JsonArray Split(string[]? values) =>
        new([.. (values ?? []).SelectMany(v => v.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(v => (JsonNode)JsonValue.Create(v))]);

    private static string Joined(JsonNode? array) => array is JsonArray { Count: > 0 } a ? string.Join(",", a.Select(n => n!.GetValue<string>())) : "-";

    private static string RenderStatus(JsonNode? r)
    {
        var lines = new List<string>
        {
            $"Vault:    {Str(r, "state")}",
            $"Secrets:  {Str(r, "secrets")} active, {Str(r, "revoked")} revoked",
        };
        var attention = r?["needs_attention"] as JsonArray ?? [];
        lines.Add(attention.Count == 0 ? "Attention: nothing" : "Attention:");
        foreach (var a in attention) lines.Add($"  {Str(a, "name")}: {Str(a, "reason")}");
        return string.Join("\n", lines) + "\n";
    }

    private static Task<int> Call(ControlClient client, TextWriter stdout, TextWriter stderr, string method, JsonObject? parameters, bool asJson,
        Func<JsonNode?, string> render, CancellationToken ct) =>
        CliCalls.CallAsync(client, stdout, stderr, method, parameters, asJson, render, indented: true, ct);
}

/// <summary>Reads a passphrase or a value without echo on a terminal, or from standard input when it is a pipe.</summary>
public static class SecretInput
{
    /// <summary>The longest input read (a value is at most 16 KiB).</summary>
    public const int MaxChars = 64 * 1024;

    /// <summary>
    /// One secret: on a terminal, typed after <paramref name="prompt"/> without echo; from a pipe, the first line (a single
    /// trailing newline is dropped). Null when nothing was given.
    /// </summary>
    public static async Task<string?> ReadAsync(SetupConsole io, TextWriter stdout, string prompt)
    {
        ArgumentNullException.ThrowIfNull(io);
        if (io.InIsTerminal && ReferenceEquals(io.In, Console.In))
        {
            await stdout.WriteAsync(prompt).ConfigureAwait(false);
            await stdout.FlushAsync().ConfigureAwait(false);
            var typed = ReadHidden();
            await stdout.WriteLineAsync().ConfigureAwait(false);
            return typed;
        }
        var line = await io.In.ReadLineAsync().ConfigureAwait(false);
        if (line is null || line.Length == 0) return null;
        return line.Length > MaxChars ? line[..MaxChars] : line;
    }

    /// <summary>A new passphrase: typed twice on a terminal (they must match), one line from a pipe.</summary>
    public static async Task<string?> ReadNewPassphraseAsync(SetupConsole io, TextWriter stdout, TextWriter stderr)
    {
        var first = await ReadAsync(io, stdout, "New vault passphrase (at least 12 characters, not echoed): ").ConfigureAwait(false);
        if (string.IsNullOrEmpty(first))
        {
            await stderr.WriteLineAsync("error: no passphrase given").ConfigureAwait(false);
            return null;
        }
        if (!(io.InIsTerminal && ReferenceEquals(io.In, Console.In))) return first;
        var second = await ReadAsync(io, stdout, "Repeat it: ").ConfigureAwait(false);
        if (second == first) return first;
        await stderr.WriteLineAsync("error: the passphrases differ").ConfigureAwait(false);
        return null;
    }

    private static string ReadHidden()
    {
        var sb = new StringBuilder();
        while (sb.Length < MaxChars)
        {
            var key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter) break;
            if (key.Key == ConsoleKey.Backspace)
            {
                if (sb.Length > 0) sb.Length--;
                continue;
            }
            if (!char.IsControl(key.KeyChar)) sb.Append(key.KeyChar);
        }
        return sb.ToString();
    }
}
