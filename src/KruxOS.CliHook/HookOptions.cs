using KruxOS.Core.Identity;

namespace KruxOS.CliHook;

/// <summary>The hook's configuration from argv and the environment. The token only ever comes from the environment.</summary>
public sealed record HookOptions
{
    /// <summary>The User API on the appliance's loopback.</summary>
    public const string DefaultGateway = "http://127.0.0.1:7703";

    /// <summary>The whole run (read, map, decide, answer) is bounded by this; past it the call is denied.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public required Uri Gateway { get; init; }
    public HookClient? Client { get; init; }
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>The outcome of parsing: options, or a refusal. <see cref="Help"/> asks for the usage text.</summary>
    public sealed record ParseResult(HookOptions? Options, int? ExitCode, string Message, bool Help = false);

    /// <summary>Parses argv. A credential in argv is refused before anything else (and never echoed).</summary>
    public static ParseResult Parse(IReadOnlyList<string> args)
    {
        if (args.Any(TokenHashing.LooksLikeCredential))
            return new ParseResult(null, ExitCodes.Blocked,
                "refusing to run: the command line carries a credential (process listings leak argv); pass KRUXOS_USER_TOKEN through the environment");
        string? gateway = null, cli = null, timeout = null;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string? inline = null;
            var eq = a.IndexOf('=', StringComparison.Ordinal);
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 0) { inline = a[(eq + 1)..]; a = a[..eq]; }
            switch (a)
            {
                case "-h" or "--help":
                    return new ParseResult(null, ExitCodes.Answered, Usage, Help: true);
                case "--gateway" or "--cli" or "--timeout":
                    var value = inline ?? (i + 1 < args.Count ? args[++i] : null);
                    if (string.IsNullOrEmpty(value)) return Refuse($"{a} needs a value");
                    if (a == "--gateway") gateway = value;
                    else if (a == "--cli") cli = value;
                    else timeout = value;
                    break;
                default:
                    return Refuse($"unknown argument '{HookEventParser.Clip(a)}' (see --help)");
            }
        }
        HookClient? client = null;
        if (cli is not null)
        {
            if (!HookClients.TryParse(cli, out var c)) return Refuse($"--cli must be one of: {string.Join(", ", HookClients.Names)}");
            client = c;
        }
        if (!TryGateway(gateway ?? DefaultGateway, out var uri, out var why)) return Refuse("--gateway: " + why);
        var limit = DefaultTimeout;
        if (timeout is not null)
        {
            if (!double.TryParse(timeout, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || seconds is < 0.1 or > 60)
                return Refuse("--timeout must be a number of seconds between 0.1 and 60");
            limit = TimeSpan.FromSeconds(seconds);
        }
        return new ParseResult(new HookOptions { Gateway = uri, Client = client, Timeout = limit }, null, "");
    }

    /// <summary>Accepts an absolute http(s) URL without query, fragment or user info; the path is ignored.</summary>
    public static bool TryGateway(string value, out Uri gateway, out string why)
    {
        gateway = null!;
        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            why = "must be an absolute http:// or https:// URL (the User API, e.g. http://127.0.0.1:7703)";
            return false;
        }
        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            why = "must not carry a query, fragment or user info";
            return false;
        }
        gateway = new UriBuilder(uri.Scheme, uri.Host, uri.Port).Uri;
        why = "";
        return true;
    }

    private static ParseResult Refuse(string message) => new(null, null, message);

    /// <summary>Text printed for <c>--help</c>.</summary>
    public const string Usage = """
        cli-hook: PreToolUse hook for Claude Code and Codex, decided by the KruxOS gateway.

        Usage:   cli-hook [--cli claude-code|codex] [--gateway http://127.0.0.1:7703] [--timeout 10]
                 with KRUXOS_USER_TOKEN (krx_user_…) in the environment; the hook event is read from stdin.
        Answer:  allow or deny in the client's hook format on stdout, exit 0. Anything that goes wrong denies.
        Never put a token on the command line: the hook refuses to run (exit 2).
        Exit codes: 0 answered, 2 credential in argv (or no answer possible: blocks the tool),
        3 credential source locked, 4 KRUXOS_USER_TOKEN missing.
        """;
}
