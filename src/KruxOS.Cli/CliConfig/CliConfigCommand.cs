using System.CommandLine;
using System.Globalization;
using System.Text;
using KruxOS.Core.Control;

namespace KruxOS.Cli.CliConfig;

/// <summary>
/// <c>kruxos cli-config generate [--write] [--claude] [--codex] [--gateway URL] [--home DIR] … [--system]</c>: prints
/// the seed configs for Claude Code and Codex, or merges them into the user's files (backing each changed file up
/// first). What the configs point at comes from the running gateway (its endpoint, auth socket, bridge and hook;
/// <see cref="GatewayDiscovery"/>) unless a flag says otherwise; with no gateway found the appliance's defaults are
/// used and the command says so. It warns, with the command to run, when a user token the configs need is missing.
/// With <c>--system</c> (root) it writes the requirements layer instead (<see cref="SystemConfigs"/>). It never
/// writes a credential.
/// </summary>
public static class CliConfigCommand
{
    public static Command Build(ControlClient client, TextWriter stdout, TextWriter stderr, TimeProvider? clock = null)
    {
        var write = new Option<bool>("--write") { Description = "Merge into the files under --home (each changed file is backed up first)" };
        var claude = new Option<bool>("--claude") { Description = "Claude Code: ~/.claude.json (MCP server) and ~/.claude/settings.json (hooks, permissions)" };
        var codex = new Option<bool>("--codex") { Description = "Codex: ~/.codex/config.toml and ~/.codex/hooks.json" };
        var gateway = new Option<string?>("--gateway") { Description = $"Gateway WebSocket URL the bridge connects to (default: the running gateway's, else {SeedOptions.DefaultGateway})" };
        var home = new Option<string?>("--home") { Description = "Home directory to write under (default $HOME)" };
        var bridge = new Option<string?>("--bridge-path") { Description = $"mcp-bridge path (default: the running gateway's, else {SeedOptions.DefaultBridge})" };
        var hook = new Option<string?>("--hook-path") { Description = $"cli-hook path (default: the running gateway's, else {SeedOptions.DefaultHook})" };
        var socket = new Option<string?>("--auth-socket") { Description = $"Gateway auth socket, written as KRUXOS_AUTH_SOCKET when it is not {SeedOptions.DefaultAuthSocket} (default: the running gateway's)" };
        var userApi = new Option<string?>("--user-api") { Description = $"User API URL for cli-hook when it is not {SeedOptions.DefaultUserApi} (default: the running gateway's)" };
        var system = new Option<bool>("--system") { Description = "The requirements layer instead (root): Claude Code managed settings and Codex requirements.toml, machine-wide" };
        var systemRoot = new Option<string?>("--system-root") { Description = "Write the --system files under this directory instead of / (staging, tests)" };

        var generate = new Command("generate", "Print (or with --write, merge) seed configs for Claude Code and Codex; no flags = both")
        {
            write, claude, codex, gateway, home, bridge, hook, socket, userApi, system, systemRoot,
        };
        generate.SetAction(async (p, ct) =>
        {
            if (OperatingSystem.IsWindows())
            {
                await stderr.WriteLineAsync("error: cli-config writes POSIX file modes and runs on Linux or macOS").ConfigureAwait(false);
                return CliApp.Usage;
            }
            var both = !p.GetValue(claude) && !p.GetValue(codex);
            var wantClaude = both || p.GetValue(claude);
            var wantCodex = both || p.GetValue(codex);
            if (p.GetValue(system))
                return await SystemScopeAsync(p.GetValue(write), wantClaude, wantCodex, p.GetValue(systemRoot), stdout, stderr, clock).ConfigureAwait(false);
            if (p.GetValue(systemRoot) is not null)
            {
                await stderr.WriteLineAsync("error: --system-root goes with --system").ConfigureAwait(false);
                return CliApp.Usage;
            }

            var root = p.GetValue(home) ?? Environment.GetEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (string.IsNullOrEmpty(root) || !Path.IsPathFullyQualified(root))
            {
                await stderr.WriteLineAsync("error: no home directory: pass --home DIR (an absolute path)").ConfigureAwait(false);
                return CliApp.Usage;
            }
            var explicitAll = p.GetValue(gateway) is not null && p.GetValue(bridge) is not null && p.GetValue(hook) is not null;
            var found = explicitAll && p.GetValue(socket) is not null && p.GetValue(userApi) is not null
                ? new DiscoveredGateway(null, "flags", null)
                : await GatewayDiscovery.FindAsync(client, ct).ConfigureAwait(false);
            var options = Resolve(found.Info, p.GetValue(gateway), p.GetValue(bridge), p.GetValue(hook), p.GetValue(socket), p.GetValue(userApi));
            if (options.Validate() is { } invalid)
            {
                await stderr.WriteLineAsync($"error: {invalid}").ConfigureAwait(false);
                return CliApp.Usage;
            }
            await ReportAsync(stderr, found, options, wantClaude, wantCodex).ConfigureAwait(false);

            var files = new List<SeedFile>();
            if (wantClaude) files.AddRange(SeedConfigs.Claude(options));
            if (wantCodex) files.AddRange(SeedConfigs.Codex(options));
            if (!p.GetValue(write))
            {
                foreach (var f in files)
                    await stdout.WriteAsync($"# {Path.Combine(root, f.RelativePath)}\n{f.Fragment}\n").ConfigureAwait(false);
                return 0;
            }
            return await WriteAsync(root, files, stdout, stderr, clock).ConfigureAwait(false);
        });
        return new Command("cli-config", "Seed configs for host CLIs (Claude Code, Codex)") { generate };
    }

    /// <summary>
    /// The seed options: each flag wins; otherwise the running gateway's value; otherwise the appliance default.
    /// The auth socket and User API are written only when they differ from what the programs assume by default.
    /// </summary>
    public static SeedOptions Resolve(GatewayRuntimeInfo? info, string? gateway, string? bridge, string? hook, string? authSocket, string? userApi)
    {
        var discoveredGateway = info is null ? null : BaseUrl(info.Mcp);
        var socket = authSocket ?? info?.AuthSocket;
        var api = userApi ?? info?.UserApi;
        return new SeedOptions
        {
            Gateway = gateway ?? discoveredGateway ?? SeedOptions.DefaultGateway,
            BridgePath = bridge ?? info?.Bridge ?? SeedOptions.DefaultBridge,
            HookPath = hook ?? info?.Hook ?? SeedOptions.DefaultHook,
            AuthSocket = socket is null || socket == SeedOptions.DefaultAuthSocket ? null : socket,
            UserApi = api is null || api.TrimEnd('/') == SeedOptions.DefaultUserApi ? null : api.TrimEnd('/'),
        };
    }

    // wss://127.0.0.1:7700/mcp → wss://127.0.0.1:7700/ (the bridge adds /mcp)
    private static string BaseUrl(string mcp) =>
        Uri.TryCreate(mcp, UriKind.Absolute, out var u) ? $"{u.Scheme}://{u.Authority}/" : mcp;

    /// <summary>The labels each client's bridge mints for.</summary>
    public static IEnumerable<(string Client, string Label)> NeededLabels(bool claude, bool codex)
    {
        if (claude) yield return ("Claude Code", SeedOptions.ClaudeLabel);
        if (codex) yield return ("Codex", SeedOptions.CodexLabel);
    }

    private static async Task ReportAsync(TextWriter stderr, DiscoveredGateway found, SeedOptions o, bool claude, bool codex)
    {
        if (found.Info is not null) await stderr.WriteLineAsync($"Using {found.Source}: {o.Gateway}").ConfigureAwait(false);
        else if (found.Source != "flags")
            await stderr.WriteLineAsync($"note: no running gateway was found ({found.Source}); the configs use the appliance's defaults ({o.Gateway}, {o.BridgePath}) unless flags say otherwise").ConfigureAwait(false);
        foreach (var (what, path) in new[] { ("mcp-bridge", o.BridgePath), ("cli-hook", o.HookPath) })
            if (!File.Exists(path))
                await stderr.WriteLineAsync($"warning: {path} does not exist, so the clients cannot start {what}: install the appliance, or pass --{(what == "mcp-bridge" ? "bridge" : "hook")}-path").ConfigureAwait(false);
        if (found.Source == "flags") return; // every value given (kruxos setup, which checked the tokens itself)
        foreach (var (client, label) in NeededLabels(claude, codex))
        {
            var has = found.HasActiveToken(label);
            if (has == true) continue;
            var command = $"kruxos user-token create {label}";
            await stderr.WriteLineAsync(has == false
                ? $"warning: the gateway has no active user token labelled '{label}': {client}'s bridge will exit 4 (credential missing) until it has one. Create it with: {command}"
                : $"note: could not check for a user token labelled '{label}' ({client} needs one; the control socket is for root): if `sudo kruxos user-token list` does not show it, run: sudo {command}").ConfigureAwait(false);
        }
    }

    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static async Task<int> WriteAsync(string root, IReadOnlyList<SeedFile> files, TextWriter stdout, TextWriter stderr, TimeProvider? clock,
        UnixFileMode? fileMode = null, UnixFileMode? directoryMode = null)
    {
        try
        {
            var lines = fileMode is { } f && directoryMode is { } d
                ? SeedWriter.Apply(root, files, clock ?? TimeProvider.System, f, d)
                : SeedWriter.Apply(root, files, clock ?? TimeProvider.System);
            foreach (var line in lines) await stdout.WriteLineAsync(line).ConfigureAwait(false);
            return 0;
        }
        catch (ConfigMergeException e)
        {
            await stderr.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return CliApp.Refused;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            await stderr.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return CliApp.Refused;
        }
    }

    /// <summary>The requirements layer: printed, or with <c>--write</c> merged under <c>/</c> (root) or <c>--system-root</c>.</summary>
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private static async Task<int> SystemScopeAsync(bool write, bool claude, bool codex, string? systemRoot, TextWriter stdout, TextWriter stderr, TimeProvider? clock)
    {
        if (systemRoot is not null && !Path.IsPathFullyQualified(systemRoot))
        {
            await stderr.WriteLineAsync("error: --system-root must be an absolute path").ConfigureAwait(false);
            return CliApp.Usage;
        }
        var root = systemRoot ?? "/";
        if (write && systemRoot is null && !Environment.IsPrivilegedProcess)
        {
            await stderr.WriteLineAsync("error: --system writes machine-wide files under /etc and needs root: sudo kruxos cli-config generate --system --write").ConfigureAwait(false);
            return CliApp.Refused;
        }
        var files = new List<SeedFile>();
        if (claude) files.AddRange(SystemConfigs.Claude());
        if (codex) files.AddRange(SystemConfigs.Codex());
        if (!write)
        {
            foreach (var f in files)
                await stdout.WriteAsync($"# {Path.Combine(root, f.RelativePath)}\n{f.Fragment}\n").ConfigureAwait(false);
            return 0;
        }
        return await WriteAsync(root, files, stdout, stderr, clock, SeedWriter.Public, SeedWriter.PublicDirectory).ConfigureAwait(false);
    }
}

/// <summary>
/// Writes merged seed configs: every file is merged in memory first (one refusal writes nothing), then each
/// changed file is backed up to <c>&lt;file&gt;.bak-&lt;UTC timestamp&gt;</c> and replaced atomically with its mode
/// kept (new files are 0600, new directories 0700 — or, for the machine-wide requirements layer, 0644 and 0755 so
/// that every user's client can read them). Unchanged files are not touched and get no backup.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public static class SeedWriter
{
    /// <summary>Largest user config file merged (Claude Code's <c>~/.claude.json</c> keeps project history and grows).</summary>
    public const long MaxConfigBytes = 64L * 1024 * 1024;

    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;

    /// <summary>Mode of new machine-wide files (root-owned, readable by all).</summary>
    public const UnixFileMode Public = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Mode of new machine-wide directories.</summary>
    public const UnixFileMode PublicDirectory = PrivateDirectory | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    public static IReadOnlyList<string> Apply(string home, IReadOnlyList<SeedFile> files, TimeProvider clock,
        UnixFileMode newFileMode = Private, UnixFileMode newDirectoryMode = PrivateDirectory)
    {
        var plans = new List<(string Path, bool Exists, string? Text)>();
        foreach (var f in files)
        {
            var path = Path.Combine(home, f.RelativePath);
            var exists = File.Exists(path);
            if (exists && new FileInfo(path).Length > MaxConfigBytes)
                throw new ConfigMergeException($"{path} is larger than {MaxConfigBytes / (1024 * 1024)} MiB, so it is left alone");
            var current = exists ? File.ReadAllText(path, Encoding.UTF8) : "";
            plans.Add((path, exists, f.Merge(current, path)));
        }

        var stamp = clock.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var report = new List<string>();
        foreach (var (path, exists, text) in plans)
        {
            if (text is null)
            {
                report.Add($"unchanged {path}");
                continue;
            }
            var dir = Path.GetDirectoryName(path)!;
            CreateDirectories(dir, newDirectoryMode);
            string? backup = null;
            var mode = newFileMode;
            if (exists)
            {
                backup = $"{path}.bak-{stamp}";
                for (var n = 1; File.Exists(backup); n++) backup = $"{path}.bak-{stamp}-{n}";
                File.Copy(path, backup);
                File.SetUnixFileMode(backup, UnixFileMode.UserRead | UnixFileMode.UserWrite);
                mode = File.GetUnixFileMode(path);
                if (KruxOS.Core.Identity.TokenHashing.LooksLikeCredential(File.ReadAllText(backup, Encoding.UTF8)))
                    report.Add($"note: {backup} keeps the old file as it was, including a token it held; the new {Path.GetFileName(path)} holds none — delete the backup once checked");
            }
            var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.kruxos-{Environment.ProcessId}.tmp");
            using (var stream = new FileStream(temp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = mode }))
            using (var writer = new StreamWriter(stream, new UTF8Encoding(false)))
                writer.Write(text);
            File.SetUnixFileMode(temp, mode);
            File.Move(temp, path, overwrite: true);
            report.Add(backup is null ? $"wrote {path}" : $"wrote {path} (backup {backup})");
        }
        return report;
    }

    // Each missing directory gets the mode exactly (mkdir applies the umask).
    private static void CreateDirectories(string dir, UnixFileMode mode)
    {
        if (Directory.Exists(dir)) return;
        if (Path.GetDirectoryName(dir) is { } parent) CreateDirectories(parent, mode);
        Directory.CreateDirectory(dir, mode);
        File.SetUnixFileMode(dir, mode);
    }
}
