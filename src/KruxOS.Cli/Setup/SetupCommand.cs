using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Core.Policy;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli.Setup;

/// <summary>The terminal setup talks to (tests give it text readers and say whether each end is a terminal).</summary>
/// <param name="In">Answers to questions.</param>
/// <param name="InIsTerminal">Whether a person types the answers.</param>
/// <param name="OutIsTerminal">Whether standard output is a terminal (tokens are printed only then; ADR 0014).</param>
public sealed record SetupConsole(TextReader In, bool InIsTerminal, bool OutIsTerminal)
{
    public static SetupConsole Standard() => new(Console.In, !Console.IsInputRedirected, !Console.IsOutputRedirected);
}

/// <summary>
/// <c>kruxos setup</c>: the first-boot steps the integration page expects (ADR 0026), against the running gateway over
/// its control socket. Interactive on a terminal, scriptable with <c>--non-interactive</c> and flags, and safe to run
/// again: what exists is reported and left alone (no token or agent is ever rotated here).
/// </summary>
public static class SetupCommand
{
    public static Command Build(ControlClient client, TextWriter stdout, TextWriter stderr, SetupConsole? console = null)
    {
        var nonInteractive = new Option<bool>("--non-interactive") { Description = "Ask nothing: take every answer from the flags (defaults otherwise)" };
        var user = new Option<string?>("--user") { Description = "The local user who runs Claude Code / Codex (default: the user who ran sudo)" };
        var noUser = new Option<bool>("--no-user") { Description = "Grant no user the auth socket and write no client configs" };
        var home = new Option<string?>("--home") { Description = "Write that user's client configs and credentials under this directory instead of their home" };
        var policy = new Option<string?>("--policy") { Description = $"Org policy template when none is in force yet ({string.Join(", ", PolicyTemplates.Names)}; default {SetupPlan.DefaultPolicy})" };
        var agent = new Option<string?>("--agent") { Description = $"The agent to create (default {SetupPlan.DefaultAgent}, the integration page's)" };
        var writeConfigs = new Option<bool>("--write-configs") { Description = "Run `kruxos cli-config generate --write` for the user (their files, in their home)" };
        var systemConfigs = new Option<bool>("--system-configs") { Description = "Also write the requirements layer (/etc/claude-code, /etc/codex): the native shell stays off for every user" };
        var vaultStdin = new Option<bool>("--vault-passphrase-stdin") { Description = "Initialise the vault with the passphrase on the first line of standard input (never a flag's value)" };

        var setup = new Command("setup", "First-boot setup: policy, the default agent, user tokens, auth socket access and client configs (safe to run again)")
        {
            nonInteractive, user, noUser, home, policy, agent, writeConfigs, systemConfigs, vaultStdin,
        };
        setup.SetAction(async (p, ct) =>
        {
            var io = console ?? SetupConsole.Standard();
            var interactive = !p.GetValue(nonInteractive) && io.InIsTerminal;
            if (!p.GetValue(nonInteractive) && !io.InIsTerminal && !p.GetValue(vaultStdin))
            {
                await stderr.WriteLineAsync("error: standard input is not a terminal: pass --non-interactive (and flags for the answers)").ConfigureAwait(false);
                return CliApp.Usage;
            }
            if (p.GetValue(policy) is { } t && !PolicyTemplates.Names.Contains(t))
            {
                await stderr.WriteLineAsync($"error: --policy must be one of: {string.Join(", ", PolicyTemplates.Names)}").ConfigureAwait(false);
                return CliApp.Usage;
            }
            if (p.GetValue(home) is { } h && !Path.IsPathFullyQualified(h))
            {
                await stderr.WriteLineAsync("error: --home must be an absolute path").ConfigureAwait(false);
                return CliApp.Usage;
            }
            var answers = new SetupAnswers(
                Interactive: interactive,
                User: p.GetValue(user),
                NoUser: p.GetValue(noUser),
                Home: p.GetValue(home),
                Policy: p.GetValue(policy),
                Agent: p.GetValue(agent) ?? SetupPlan.DefaultAgent,
                WriteConfigs: p.GetValue(writeConfigs),
                SystemConfigs: p.GetValue(systemConfigs))
            {
                VaultPassphraseFromStdin = p.GetValue(vaultStdin),
            };
            var run = new SetupRun(client, answers, io, stdout, stderr);
            return await run.ExecuteAsync(ct).ConfigureAwait(false);
        });
        return setup;
    }
}

/// <summary>The answers setup works from (flags, or what was typed).</summary>
public sealed record SetupAnswers(bool Interactive, string? User, bool NoUser, string? Home, string? Policy, string Agent, bool WriteConfigs, bool SystemConfigs)
{
    /// <summary>Initialise the vault with the first line of standard input (<c>--vault-passphrase-stdin</c>).</summary>
    public bool VaultPassphraseFromStdin { get; init; }
}

/// <summary>Names and requests shared by the steps.</summary>
public static class SetupPlan
{
    /// <summary>The integration page's agent.</summary>
    public const string DefaultAgent = "default-agent";

    /// <summary>The org policy template chosen when the operator does not say.</summary>
    public const string DefaultPolicy = "team-moderate";

    /// <summary>
    /// The role given to the user tokens setup issues: a client's (Claude Code, Codex), not an operator's. This is the
    /// one place it is passed; a gateway that does not know credential roles ignores it.
    /// </summary>
    public const string ClientRole = "client";

    /// <summary>The <c>user-token.create</c> parameters for a seed config's label.</summary>
    public static JsonObject UserTokenCreate(string label) => new() { ["label"] = label, ["role"] = ClientRole };

    /// <summary>The user-token labels the seed configs mint for (Claude Code, Codex).</summary>
    public static readonly string[] Labels = [CliConfig.SeedOptions.ClaudeLabel, CliConfig.SeedOptions.CodexLabel];
}

/// <summary>Status of one step.</summary>
public enum StepStatus
{
    Done,
    Exists,
    Skipped,
    Warning,
    Failed,
}

/// <summary>A credential issued during this run, to be handed over once (ADR 0014).</summary>
public sealed record IssuedCredential(string Kind, string Name, string Token);

/// <summary>One run of setup: the steps in order, then the hand-over of anything issued.</summary>
public sealed class SetupRun(ControlClient client, SetupAnswers answers, SetupConsole console, TextWriter stdout, TextWriter stderr)
{
    private readonly List<IssuedCredential> _issued = [];
    private readonly List<StepStatus> _outcomes = [];
    private GatewayRuntimeInfo _gateway = null!;
    private UnixUser? _target;

    /// <summary>
    /// The steps, in order. The vault passphrase is asked last, and an empty answer skips it (kruxos vault init later).
    /// </summary>
    private IEnumerable<(string Name, Func<CancellationToken, Task<(StepStatus, string)>> Run)> Steps() =>
    [
        ("policy", PolicyAsync),
        ("agent", AgentAsync),
        ("user tokens", UserTokensAsync),
        ("auth socket", AuthSocketAsync),
        ("client configs", ClientConfigsAsync),
        ("requirements", SystemConfigsAsync),
        ("vault", VaultAsync),
    ];

    public async Task<int> ExecuteAsync(CancellationToken ct)
    {
        var status = await client.CallAsync(M.Status, null, ct).ConfigureAwait(false);
        if (!status.Ok)
        {
            await stderr.WriteLineAsync($"error: the gateway refused: {status.ErrorMessage} — setup runs as root (or the gateway's user): sudo kruxos setup").ConfigureAwait(false);
            return CliApp.Refused;
        }
        if (GatewayRuntimeInfo.Parse(status.Result?["endpoints"]) is not { } info)
        {
            await stderr.WriteLineAsync("error: the gateway does not report its endpoints; update it to this version of kruxos").ConfigureAwait(false);
            return CliApp.Refused;
        }
        _gateway = info;
        await stdout.WriteLineAsync($"KruxOS setup: gateway {info.Mcp} (data directory {info.DataDir})").ConfigureAwait(false);

        _target = await TargetUserAsync(ct).ConfigureAwait(false);
        if (_target is null && answers.User is { } wanted)
        {
            await stderr.WriteLineAsync($"error: no local user '{wanted}'").ConfigureAwait(false);
            return CliApp.Usage;
        }
        if (_target is { HasAccount: false } && answers.Home is null && (answers.WriteConfigs || answers.Interactive))
        {
            await stderr.WriteLineAsync($"error: uid {_target.Uid} has no account (no home directory): pass --home DIR for its configs and credentials").ConfigureAwait(false);
            return CliApp.Usage;
        }

        foreach (var (name, run) in Steps())
        {
            StepStatus outcome;
            string message;
            try
            {
                (outcome, message) = await run(ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or JsonException)
            {
                (outcome, message) = (StepStatus.Failed, e.Message);
            }
            _outcomes.Add(outcome);
            var word = outcome switch
            {
                StepStatus.Done => "done",
                StepStatus.Exists => "exists",
                StepStatus.Skipped => "skipped",
                StepStatus.Warning => "WARNING",
                _ => "FAILED",
            };
            await (outcome is StepStatus.Failed or StepStatus.Warning ? stderr : stdout)
                .WriteLineAsync($"  {name,-15} {word,-8} {message}").ConfigureAwait(false);
        }
        await HandOverAsync(ct).ConfigureAwait(false);
        return _outcomes.Contains(StepStatus.Failed) ? CliApp.Refused : 0;
    }

    private async Task<UnixUser?> TargetUserAsync(CancellationToken ct)
    {
        if (answers.NoUser) return null;
        if (answers.User is { } name) return await UnixUsers.FindAsync(name, ct).ConfigureAwait(false);
        var invoking = await UnixUsers.InvokingUserAsync(Environment.GetEnvironmentVariable, ct).ConfigureAwait(false);
        if (invoking is null || !answers.Interactive) return invoking;
        return await ConfirmAsync($"Set up user '{invoking.Name}' (uid {invoking.Uid}) to use KruxOS from Claude Code and Codex?", true).ConfigureAwait(false) ? invoking : null;
    }

    private string TargetHome => answers.Home ?? _target?.Home ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);

    private async Task<(StepStatus, string)> PolicyAsync(CancellationToken ct)
    {
        var show = await client.CallAsync(M.PolicyShow, null, ct).ConfigureAwait(false);
        if (!show.Ok) return (StepStatus.Failed, $"{show.ErrorMessage}");
        var current = show.Result?["template"]?.GetValue<string>();
        var files = show.Result?["files"] as JsonArray ?? [];
        var orgInForce = files.Any(f => f?.GetValue<string>() is { } n && Path.GetFileNameWithoutExtension(n) == "org");
        if (current is not null || orgInForce)
        {
            var what = current is null ? "an org policy" : $"the org policy template '{current}'";
            var hint = answers.Policy is { } asked && asked != current ? $"; to switch to '{asked}' run: kruxos config set policy {asked}" : "";
            return (StepStatus.Exists, $"{what} is in force; left as it is{hint}");
        }
        var template = answers.Policy ?? (answers.Interactive
            ? await ChooseAsync("Org policy template", PolicyTemplates.Names, SetupPlan.DefaultPolicy).ConfigureAwait(false)
            : SetupPlan.DefaultPolicy);
        var set = await client.CallAsync(M.PolicySet, new JsonObject { ["template"] = template }, ct).ConfigureAwait(false);
        if (!set.Ok) return (StepStatus.Failed, $"{set.ErrorMessage}");
        return set.Result?["in_force"]?.GetValue<bool>() == true
            ? (StepStatus.Done, $"org policy template '{template}' in force")
            : (StepStatus.Warning, $"wrote template '{template}' as org.yaml, but it is not in force: kruxos config show policy");
    }

    // The vault passphrase: set once (init); an initialised vault is reported as it is. Typed without echo on a terminal,
    // or the first line of stdin with --vault-passphrase-stdin; never a flag's value.
    private async Task<(StepStatus, string)> VaultAsync(CancellationToken ct)
    {
        // Right after the gateway starts its vault may still be loading: asked again for a few seconds, never guessed.
        string? state = null;
        for (var attempt = 0; attempt < 20; attempt++)
        {
            var status = await client.CallAsync(M.VaultStatus, null, ct).ConfigureAwait(false);
            if (!status.Ok) return (StepStatus.Warning, $"the gateway does not report its vault: {status.ErrorMessage}");
            state = status.Result?["state"]?.GetValue<string>();
            if (state != "loading") break;
            await Task.Delay(TimeSpan.FromMilliseconds(500), ct).ConfigureAwait(false);
        }
        if (state == "loading")
            return (StepStatus.Warning, "the gateway's vault is still loading: run kruxos setup again in a moment (kruxos vault status)");
        if (state != "uninitialised")
            return (StepStatus.Exists, state == "locked"
                ? "the vault is initialised and locked on this node: kruxos vault unlock (or set KRUXOS_VAULT_PASSPHRASE for the service)"
                : "the vault is initialised and unlocked");
        if (!answers.Interactive && !answers.VaultPassphraseFromStdin)
            return (StepStatus.Skipped, "no vault passphrase set (run kruxos vault init, or setup --vault-passphrase-stdin)");
        if (answers.Interactive && !answers.VaultPassphraseFromStdin)
            await stdout.WriteLineAsync("The secrets vault needs a passphrase (Enter skips; kruxos vault init sets it later).").ConfigureAwait(false);
        var passphrase = await SecretInput.ReadNewPassphraseAsync(console, stdout, answers.VaultPassphraseFromStdin ? stderr : TextWriter.Null).ConfigureAwait(false);
        if (passphrase is null)
            return answers.VaultPassphraseFromStdin
                ? (StepStatus.Failed, "no vault passphrase on standard input")
                : (StepStatus.Skipped, "no vault passphrase set (kruxos vault init sets it later)");
        var init = await client.CallAsync(M.VaultInit, new JsonObject { ["passphrase"] = passphrase }, ct).ConfigureAwait(false);
        if (!init.Ok) return (StepStatus.Failed, $"{init.ErrorMessage}");
        return (StepStatus.Done, "vault initialised and unlocked; it starts locked after a restart unless KRUXOS_VAULT_PASSPHRASE " +
            "(or the systemd credential vault-passphrase) is set — otherwise run kruxos vault unlock. The passphrase cannot be recovered.");
    }

    private async Task<(StepStatus, string)> AgentAsync(CancellationToken ct)
    {
        var show = await client.CallAsync(M.AgentShow, new JsonObject { ["name"] = answers.Agent }, ct).ConfigureAwait(false);
        if (show.Ok)
            return (StepStatus.Exists, $"agent '{answers.Agent}' exists ({Output.Str(show.Result, "status")}); its token is not shown again — for a new one: kruxos agent rotate {answers.Agent}");
        if (show.ErrorType != "NotFound") return (StepStatus.Failed, $"{show.ErrorMessage}");
        var created = await client.CallAsync(M.AgentCreate, new JsonObject
        {
            ["name"] = answers.Agent,
            ["purpose"] = "Claude Code through mcp-bridge (the integration page's agent)",
        }, ct).ConfigureAwait(false);
        if (!created.Ok) return (StepStatus.Failed, $"{created.ErrorMessage}");
        _issued.Add(new IssuedCredential("agent", answers.Agent, created.Result!["token"]!.GetValue<string>()));
        return (StepStatus.Done, $"created agent '{answers.Agent}'");
    }

    private async Task<(StepStatus, string)> UserTokensAsync(CancellationToken ct)
    {
        var list = await client.CallAsync(M.UserTokenList, null, ct).ConfigureAwait(false);
        if (!list.Ok) return (StepStatus.Failed, $"{list.ErrorMessage}");
        var tokens = list.Result?["tokens"] as JsonArray ?? [];
        var parts = new List<string>();
        var created = false;
        foreach (var label in SetupPlan.Labels)
        {
            var active = tokens.FirstOrDefault(t => Output.Str(t, "label") == label && Output.Str(t, "status") == "active");
            if (active is not null)
            {
                parts.Add($"'{label}' exists (id {Output.Str(active, "id")}, not rotated)");
                continue;
            }
            var r = await client.CallAsync(M.UserTokenCreate, SetupPlan.UserTokenCreate(label), ct).ConfigureAwait(false);
            if (!r.Ok) return (StepStatus.Failed, $"creating '{label}': {r.ErrorMessage}");
            _issued.Add(new IssuedCredential("user token", label, r.Result!["token"]!.GetValue<string>()));
            parts.Add($"created '{label}'");
            created = true;
        }
        return (created ? StepStatus.Done : StepStatus.Exists, string.Join("; ", parts));
    }

    private async Task<(StepStatus, string)> AuthSocketAsync(CancellationToken ct)
    {
        if (_target is null) return (StepStatus.Skipped, "no user to grant (run with sudo as that user, or --user NAME); root and the gateway's own user may always use it");
        var r = await client.CallAsync(M.AuthSocketAllow, new JsonObject { ["uid"] = _target.Uid }, ct).ConfigureAwait(false);
        if (!r.Ok)
        {
            // the gateway's own uid (or root) needs no grant
            if (r.ErrorType == "invalid_input" && r.ErrorMessage?.Contains("may always use", StringComparison.Ordinal) == true)
                return (StepStatus.Exists, $"'{_target.Name}' may always use the auth socket ({r.ErrorMessage})");
            return (StepStatus.Failed, $"{r.ErrorMessage}");
        }
        var changed = r.Result?["changed"]?.GetValue<bool>() == true;
        var socket = Output.Str(r.Result, "socket");
        if (await BlockingDirectoryAsync(_target, socket, ct).ConfigureAwait(false) is { } blocked)
            return (StepStatus.Warning, $"uid {_target.Uid} ('{_target.Name}') is allowed, but cannot reach {socket}: {blocked} — " +
                $"run the gateway with its auth socket in a directory that user can traverse (the appliance uses {KruxOS.Core.Tls.GatewayTrust.ApplianceRunDirectory}/auth.sock: --auth-socket), or: chmod o+x {blocked}");
        return (changed ? StepStatus.Done : StepStatus.Exists, changed
            ? $"'{_target.Name}' (uid {_target.Uid}) may now mint credentials on {socket} (kept across restarts)"
            : $"'{_target.Name}' (uid {_target.Uid}) may already mint credentials on {socket}");
    }

    // The first directory on the way to the socket the user may not search, or null when the socket is reachable.
    private static async Task<string?> BlockingDirectoryAsync(UnixUser user, string socket, CancellationToken ct)
    {
        if (!Environment.IsPrivilegedProcess) return null; // only root can check as another user; then the user is the caller
        var dirs = new List<string>();
        for (var d = Path.GetDirectoryName(socket); d is not null; d = Path.GetDirectoryName(d)) dirs.Insert(0, d);
        async Task<bool> As(string test, string path)
        {
            var argv = UnixUsers.AsUser(user, ["test", test, path]);
            return (await UnixUsers.RunAsync(argv[0], argv.Skip(1), null, ct).ConfigureAwait(false)).Code == 0;
        }
        foreach (var dir in dirs)
            if (!await As("-x", dir).ConfigureAwait(false)) return dir;
        return await As("-w", socket).ConfigureAwait(false) ? null : socket;
    }

    private async Task<(StepStatus, string)> ClientConfigsAsync(CancellationToken ct)
    {
        if (answers.NoUser) return (StepStatus.Skipped, "--no-user");
        var write = answers.WriteConfigs || (answers.Interactive && await ConfirmAsync(
            $"Write the Claude Code and Codex configs for {(_target?.Name ?? Environment.UserName)} (merged into {TargetHome}/.claude.json, .claude/settings.json, .codex/config.toml, .codex/hooks.json, with backups)?", true).ConfigureAwait(false));
        if (!write) return (StepStatus.Skipped, "pass --write-configs (or run `kruxos cli-config generate --write` as that user)");
        string[] generate =
        [
            "cli-config", "generate", "--write", "--home", TargetHome,
            "--gateway", BaseUrl(_gateway.Mcp), "--bridge-path", _gateway.Bridge, "--hook-path", _gateway.Hook,
            "--auth-socket", _gateway.AuthSocket, "--user-api", _gateway.UserApi,
        ];
        int code;
        string output, errors;
        if (_target is not null && Environment.IsPrivilegedProcess && _target.Uid != 0)
        {
            // as that user: the files are theirs, and nothing root does follows a link they planted in their home
            var argv = UnixUsers.AsUser(_target, [.. UnixUsers.Self(), .. generate], TargetHome);
            (code, output, errors) = await UnixUsers.RunAsync(argv[0], argv.Skip(1), null, ct).ConfigureAwait(false);
        }
        else
        {
            using var o = new StringWriter();
            using var e = new StringWriter();
            code = await CliApp.RunAsync(generate, o, e, client, ct).ConfigureAwait(false);
            (output, errors) = (o.ToString(), e.ToString());
        }
        var written = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (code != 0)
            return (StepStatus.Failed, $"cli-config generate exited {code}: {errors.Trim()} — run it as {(_target?.Name ?? "that user")}: kruxos {string.Join(' ', generate)}");
        var wrote = written.Count(l => l.StartsWith("wrote ", StringComparison.Ordinal));
        return wrote > 0
            ? (StepStatus.Done, $"{string.Join("; ", written)}")
            : (StepStatus.Exists, $"the configs under {TargetHome} already point at this gateway");
    }

    private async Task<(StepStatus, string)> SystemConfigsAsync(CancellationToken ct)
    {
        var write = answers.SystemConfigs || (answers.Interactive && await ConfirmAsync(
            "Also disable the native shell machine-wide (Claude Code managed settings, Codex requirements.toml under /etc)?", false).ConfigureAwait(false));
        if (!write) return (StepStatus.Skipped, "pass --system-configs to write the requirements layer (docs/cli-config.md)");
        using var o = new StringWriter();
        using var e = new StringWriter();
        var code = await CliApp.RunAsync(["cli-config", "generate", "--system", "--write"], o, e, client, ct).ConfigureAwait(false);
        if (code != 0) return (StepStatus.Failed, e.ToString().Trim());
        var lines = o.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return lines.Any(l => l.StartsWith("wrote ", StringComparison.Ordinal)) ? (StepStatus.Done, string.Join("; ", lines)) : (StepStatus.Exists, string.Join("; ", lines));
    }

    // wss://127.0.0.1:7700/mcp → wss://127.0.0.1:7700/
    private static string BaseUrl(string mcp) => Uri.TryCreate(mcp, UriKind.Absolute, out var u) ? $"{u.Scheme}://{u.Authority}/" : mcp;

    /// <summary>
    /// Hands over what was issued, once (ADR 0014): printed on a terminal; otherwise written to owner-only files in the
    /// user's <c>~/.kruxos/</c> (as that user) and only the paths are printed.
    /// </summary>
    private async Task HandOverAsync(CancellationToken ct)
    {
        if (_issued.Count == 0) return;
        var agent = _issued.FirstOrDefault(c => c.Kind == "agent");
        var userTokens = _issued.Where(c => c.Kind == "user token").ToList();
        var mcpJson = agent is null ? null : McpJson(agent).ToJsonString(new JsonSerializerOptions { WriteIndented = true });
        if (console.OutIsTerminal)
        {
            var text = new System.Text.StringBuilder("\nIssued (shown once; the gateway keeps only hashes):\n");
            if (agent is not null) text.Append($"  agent {agent.Name}: {agent.Token}\n\n.mcp.json for Claude Code (option B):\n{mcpJson}\n");
            foreach (var t in userTokens) text.Append($"  user token '{t.Name}': {t.Token}\n");
            if (userTokens.Count > 0)
                text.Append("  (The seed configs do not need these: mcp-bridge and cli-hook mint short-lived credentials over the auth socket.)\n");
            await stdout.WriteAsync(text.ToString()).ConfigureAwait(false);
            return;
        }
        var dir = Path.Combine(TargetHome, ".kruxos");
        var files = new List<(string Path, string Content)>();
        if (mcpJson is not null) files.Add((Path.Combine(dir, $"{agent!.Name}.mcp.json"), mcpJson + "\n"));
        if (userTokens.Count > 0)
            files.Add((Path.Combine(dir, "user-tokens.json"), new JsonObject(userTokens.Select(t => KeyValuePair.Create(t.Name, (JsonNode?)JsonValue.Create(t.Token))))
                .ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n"));
        foreach (var (path, content) in files)
        {
            await WriteOwnerOnlyAsync(path, content, ct).ConfigureAwait(false);
            await stdout.WriteLineAsync($"Issued credentials are in {path} (mode 0600): standard output is not a terminal, and a log would keep them. Copy what you need, then delete it.").ConfigureAwait(false);
        }
    }

    /// <summary>The integration page's option B for the agent, over wss:// through this gateway's bridge.</summary>
    private JsonObject McpJson(IssuedCredential agent)
    {
        var env = new JsonObject
        {
            ["KRUXOS_ENDPOINT"] = _gateway.Mcp,
            ["KRUXOS_AGENT_NAME"] = agent.Name,
            ["KRUXOS_AGENT_TOKEN"] = agent.Token,
        };
        if (_gateway.CaCertificate != Path.Combine(KruxOS.Core.Tls.GatewayTrust.ApplianceRunDirectory, KruxOS.Core.Tls.GatewayTrust.PublishedFileName))
            env["KRUXOS_CA_CERT"] = _gateway.CaCertificate;
        return new JsonObject
        {
            ["mcpServers"] = new JsonObject
            {
                ["kruxos"] = new JsonObject { ["command"] = _gateway.Bridge, ["args"] = new JsonArray(), ["env"] = env },
            },
        };
    }

    // As the target user when root acts for one (their file, and no link of theirs is followed as root); else directly.
    private async Task WriteOwnerOnlyAsync(string path, string content, CancellationToken ct)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("kruxos setup writes POSIX file modes");
        if (_target is not null && Environment.IsPrivilegedProcess && _target.Uid != 0)
        {
            var argv = UnixUsers.AsUser(_target, ["sh", "-c", "umask 077 && mkdir -p \"$1\" && rm -f \"$2\" && cat > \"$2\"", "sh", Path.GetDirectoryName(path)!, path], TargetHome);
            var (code, _, err) = await UnixUsers.RunAsync(argv[0], argv.Skip(1), content, ct).ConfigureAwait(false);
            if (code != 0) throw new IOException($"cannot write {path} as {_target.Name}: {err.Trim()}");
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(path)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        File.Delete(path);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite };
        await using var stream = new FileStream(path, options);
        await using var writer = new StreamWriter(stream);
        await writer.WriteAsync(content.AsMemory(), ct).ConfigureAwait(false);
    }

    private async Task<bool> ConfirmAsync(string question, bool defaultYes)
    {
        await stdout.WriteAsync($"{question} [{(defaultYes ? "Y/n" : "y/N")}] ").ConfigureAwait(false);
        await stdout.FlushAsync().ConfigureAwait(false);
        var line = (await console.In.ReadLineAsync().ConfigureAwait(false))?.Trim().ToLowerInvariant();
        return string.IsNullOrEmpty(line) ? defaultYes : line is "y" or "yes";
    }

    private async Task<string> ChooseAsync(string question, IEnumerable<string> options, string defaultOption)
    {
        var list = options.ToList();
        while (true)
        {
            await stdout.WriteAsync($"{question} ({string.Join(", ", list)}) [{defaultOption}] ").ConfigureAwait(false);
            await stdout.FlushAsync().ConfigureAwait(false);
            var line = (await console.In.ReadLineAsync().ConfigureAwait(false))?.Trim();
            if (line is null || line.Length == 0) return defaultOption;
            if (list.Contains(line, StringComparer.Ordinal)) return line;
            await stdout.WriteLineAsync($"'{line}' is not one of them.").ConfigureAwait(false);
        }
    }
}
