using System.CommandLine;
using System.Globalization;
using System.Text;

namespace KruxOS.Cli.CliConfig;

/// <summary>
/// <c>kruxos cli-config generate [--write] [--claude] [--codex] [--gateway URL] [--home DIR] …</c>: prints the
/// seed configs for Claude Code and Codex, or merges them into the user's files (backing each changed file
/// up first). Runs locally; it needs no gateway and never writes a credential.
/// </summary>
public static class CliConfigCommand
{
    public static Command Build(TextWriter stdout, TextWriter stderr, TimeProvider? clock = null)
    {
        var write = new Option<bool>("--write") { Description = "Merge into the files under --home (each changed file is backed up first)" };
        var claude = new Option<bool>("--claude") { Description = "Claude Code: ~/.claude.json (MCP server) and ~/.claude/settings.json (hooks, permissions)" };
        var codex = new Option<bool>("--codex") { Description = "Codex: ~/.codex/config.toml and ~/.codex/hooks.json" };
        var gateway = new Option<string>("--gateway") { Description = $"Gateway WebSocket URL the bridge connects to (default {SeedOptions.DefaultGateway})", DefaultValueFactory = _ => SeedOptions.DefaultGateway };
        var home = new Option<string?>("--home") { Description = "Home directory to write under (default $HOME)" };
        var bridge = new Option<string>("--bridge-path") { Description = $"mcp-bridge path (default {SeedOptions.DefaultBridge})", DefaultValueFactory = _ => SeedOptions.DefaultBridge };
        var hook = new Option<string>("--hook-path") { Description = $"cli-hook path (default {SeedOptions.DefaultHook})", DefaultValueFactory = _ => SeedOptions.DefaultHook };
        var socket = new Option<string?>("--auth-socket") { Description = "Gateway auth socket, written as KRUXOS_AUTH_SOCKET when it is not /run/kruxos/auth.sock" };

        var generate = new Command("generate", "Print (or with --write, merge) seed configs for Claude Code and Codex; no flags = both")
        {
            write, claude, codex, gateway, home, bridge, hook, socket,
        };
        generate.SetAction(async (p, ct) =>
        {
            var options = new SeedOptions
            {
                Gateway = p.GetValue(gateway)!,
                BridgePath = p.GetValue(bridge)!,
                HookPath = p.GetValue(hook)!,
                AuthSocket = p.GetValue(socket),
            };
            if (options.Validate() is { } invalid)
            {
                await stderr.WriteLineAsync($"error: {invalid}").ConfigureAwait(false);
                return CliApp.Usage;
            }
            var both = !p.GetValue(claude) && !p.GetValue(codex);
            var files = new List<SeedFile>();
            if (both || p.GetValue(claude)) files.AddRange(SeedConfigs.Claude(options));
            if (both || p.GetValue(codex)) files.AddRange(SeedConfigs.Codex(options));

            var root = p.GetValue(home) ?? Environment.GetEnvironmentVariable("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            if (string.IsNullOrEmpty(root) || !Path.IsPathFullyQualified(root))
            {
                await stderr.WriteLineAsync("error: no home directory: pass --home DIR (an absolute path)").ConfigureAwait(false);
                return CliApp.Usage;
            }

            if (OperatingSystem.IsWindows())
            {
                await stderr.WriteLineAsync("error: cli-config writes POSIX file modes and runs on Linux or macOS").ConfigureAwait(false);
                return CliApp.Usage;
            }
            if (!p.GetValue(write))
            {
                foreach (var f in files)
                    await stdout.WriteAsync($"# {Path.Combine(root, f.RelativePath)}\n{f.Fragment}\n").ConfigureAwait(false);
                return 0;
            }
            try
            {
                foreach (var line in SeedWriter.Apply(root, files, clock ?? TimeProvider.System))
                    await stdout.WriteLineAsync(line).ConfigureAwait(false);
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
        });
        return new Command("cli-config", "Seed configs for host CLIs (Claude Code, Codex)") { generate };
    }
}

/// <summary>
/// Writes merged seed configs: every file is merged in memory first (one refusal writes nothing), then each
/// changed file is backed up to <c>&lt;file&gt;.bak-&lt;UTC timestamp&gt;</c> and replaced atomically with its mode
/// kept (new files are 0600, new directories 0700). Unchanged files are not touched and get no backup.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public static class SeedWriter
{
    /// <summary>Largest user config file merged (Claude Code's <c>~/.claude.json</c> keeps project history and grows).</summary>
    public const long MaxConfigBytes = 64L * 1024 * 1024;

    public static IReadOnlyList<string> Apply(string home, IReadOnlyList<SeedFile> files, TimeProvider clock)
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
            if (!Directory.Exists(dir))
                Directory.CreateDirectory(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            string? backup = null;
            var mode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
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
}
