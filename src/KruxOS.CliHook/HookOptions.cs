using KruxOS.Core.Identity;

namespace KruxOS.CliHook;

/// <summary>
/// The hook's configuration from argv and the environment. A credential never comes from argv: it is
/// <c>KRUXOS_USER_TOKEN</c> from the environment, or one minted over the gateway's auth socket.
/// </summary>
public sealed record HookOptions
{
    /// <summary>The User API on the appliance's loopback.</summary>
    public const string DefaultGateway = "http://127.0.0.1:7703";

    /// <summary>The whole run (read, map, decide, answer) is bounded by this; past it the call is denied.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    public required Uri Gateway { get; init; }
    public HookClient? Client { get; init; }
    public TimeSpan Timeout { get; init; } = DefaultTimeout;

    /// <summary>The user-token label to mint a credential for (<c>--label</c>); null: the client's seed label (<see cref="DefaultLabel"/>).</summary>
    public string? Label { get; init; }

    /// <summary>The gateway's auth socket (<c>--auth-socket</c>); null: <c>KRUXOS_AUTH_SOCKET</c>, else <see cref="AuthSocketClient.DefaultPath"/>.</summary>
    public string? AuthSocket { get; init; }

    /// <summary>
    /// The label a client's credential is minted for when <c>--label</c> is not given: the label its MCP bridge uses in the
    /// seed configs (<c>kruxos cli-config generate</c>), so one client token governs both the client's MCP calls and its
    /// native tools — <c>claude-code</c> for Claude Code, <c>primary</c> for Codex.
    /// </summary>
    public static string DefaultLabel(HookClient client) => client == HookClient.Codex ? "primary" : "claude-code";

    /// <summary>The outcome of parsing: options, or a refusal. <see cref="Help"/> asks for the usage text.</summary>
    public sealed record ParseResult(HookOptions? Options, int? ExitCode, string Message, bool Help = false);

    /// <summary>Parses argv. A credential in argv is refused before anything else (and never echoed).</summary>
    public static ParseResult Parse(IReadOnlyList<string> args)
    {
        if (args.Any(TokenHashing.LooksLikeCredential))
            return new ParseResult(null, ExitCodes.Blocked,
                "refusing to run: the command line carries a credential (process listings leak argv); let the hook mint one over the auth socket, or pass KRUXOS_USER_TOKEN through the environment");
        string? gateway = null, cli = null, timeout = null, label = null, socket = null;
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
                case "--gateway" or "--cli" or "--timeout" or "--label" or "--auth-socket":
                    var value = inline ?? (i + 1 < args.Count ? args[++i] : null);
                    if (string.IsNullOrEmpty(value)) return Refuse($"{a} needs a value");
                    switch (a)
                    {
                        case "--gateway": gateway = value; break;
                        case "--cli": cli = value; break;
                        case "--timeout": timeout = value; break;
                        case "--label": label = value; break;
                        default: socket = value; break;
                    }
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
        if (label is not null && (string.IsNullOrWhiteSpace(label) || label.Length > CredentialMinting.MaxLabelLength || label.Any(char.IsControl)))
            return Refuse($"--label must be 1-{CredentialMinting.MaxLabelLength} printable characters");
        if (socket is not null && !Path.IsPathFullyQualified(socket))
            return Refuse("--auth-socket must be an absolute path");
        return new ParseResult(new HookOptions { Gateway = uri, Client = client, Timeout = limit, Label = label, AuthSocket = socket }, null, "");
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
                          [--label LABEL] [--auth-socket PATH]
                 The hook event is read from stdin.
        Credential: KRUXOS_USER_TOKEN (a client user token, krx_user_…) when set; otherwise a short-lived
                 credential minted for LABEL over the gateway's auth socket (--auth-socket, else
                 KRUXOS_AUTH_SOCKET, else /run/kruxos/auth.sock). LABEL defaults to the client's seed label:
                 claude-code for Claude Code, primary for Codex.
        Answer:  allow or deny in the client's hook format on stdout, exit 0. Anything that goes wrong denies.
        Never put a token on the command line: the hook refuses to run (exit 2).
        Exit codes: 0 answered, 2 credential in argv (or no answer possible: blocks the tool),
        3 credential source locked, 4 no user token has the label, 5 auth socket unavailable
        (3-5 also write a deny).
        """;
}
