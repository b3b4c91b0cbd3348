using KruxOS.Core.Identity;

namespace KruxOS.Bridge;

/// <summary>How the bridge authenticates: as an agent (environment) or as the operator (flags).</summary>
public enum BridgeMode
{
    Agent,
    User,
}

/// <summary>
/// The bridge's configuration, resolved from argv and the environment. Tokens only ever come from the
/// environment; argv is checked for credentials before anything else happens.
/// </summary>
public sealed record BridgeOptions
{
    /// <summary>Default gateway for user mode: TLS on the local gateway (its CA is found without a setting; ADR 0025).</summary>
    public const string DefaultGateway = "wss://127.0.0.1:7700";

    /// <summary>Default vault label for user mode.</summary>
    public const string DefaultLabel = "primary";

    /// <summary>Default cap on one message from the gateway (1 MiB).</summary>
    public const int DefaultMaxResultBytes = 1024 * 1024;

    /// <summary>Smallest accepted cap, so the truncated envelope and marker always fit.</summary>
    public const int MinMaxResultBytes = 4096;

    public required BridgeMode Mode { get; init; }
    public required Uri Endpoint { get; init; }
    /// <summary>The token from the environment; null in user mode when credentials are minted over the auth socket.</summary>
    public string? Token { get; init; }

    /// <summary>The auth socket to mint from (user mode without <c>KRUXOS_USER_TOKEN</c>).</summary>
    public string? AuthSocket { get; init; }
    public string? AgentName { get; init; }
    public string? Label { get; init; }
    public string? Cli { get; init; }
    public int MaxResultBytes { get; init; } = DefaultMaxResultBytes;
    public BridgeLogLevel LogLevel { get; init; } = BridgeLogLevel.Info;

    /// <summary>The CLIs accepted by <c>--cli</c>.</summary>
    public static readonly string[] KnownClis = ["claude-code", "codex"];

    /// <summary>Where each connection's credential comes from.</summary>
    public ICredentialSource Credentials() => Token is { } token
        ? new FixedCredential(token, Mode == BridgeMode.Agent ? "KRUXOS_AGENT_TOKEN" : "KRUXOS_USER_TOKEN")
        : new AuthSocketCredential(AuthSocket ?? AuthSocketCredential.DefaultPath, Label ?? DefaultLabel);

    /// <summary>True when any argument looks like a credential (a <c>krx_user_</c> token or a 64-hex token).</summary>
    public static bool ArgvCarriesCredential(IEnumerable<string> args) => args.Any(TokenHashing.LooksLikeCredential);

    /// <summary>
    /// Normalises an endpoint: <c>ws://</c> or <c>wss://</c> (http/https are accepted and mapped), and an
    /// empty path becomes <c>/mcp</c>. Query strings are refused (the token must not travel in a URL here).
    /// </summary>
    public static bool TryNormalizeEndpoint(string? value, out Uri endpoint, out string error)
    {
        endpoint = null!;
        if (string.IsNullOrWhiteSpace(value)) { error = "the endpoint is empty"; return false; }
        if (!Uri.TryCreate(value.Trim(), UriKind.Absolute, out var uri)) { error = "the endpoint is not an absolute URL"; return false; }
        var scheme = uri.Scheme.ToLowerInvariant() switch
        {
            "ws" or "http" => "ws",
            "wss" or "https" => "wss",
            _ => null,
        };
        if (scheme is null) { error = $"the endpoint scheme '{uri.Scheme}' is not ws:// or wss://"; return false; }
        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.Fragment) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            error = "the endpoint must not carry a query, fragment or user info";
            return false;
        }
        var path = uri.AbsolutePath is "" or "/" ? "/mcp" : uri.AbsolutePath;
        var builder = new UriBuilder(scheme, uri.Host, uri.IsDefaultPort ? -1 : uri.Port, path);
        endpoint = builder.Uri;
        error = "";
        return true;
    }

    /// <summary>The outcome of parsing: options, or an exit code with a message (and whether it is a help request).</summary>
    public sealed record ParseResult(BridgeOptions? Options, int ExitCode, string Message);

    /// <summary>Resolves the options. Never echoes an argument that might be a credential.</summary>
    public static ParseResult Parse(IReadOnlyList<string> args, Func<string, string?> env)
    {
        if (ArgvCarriesCredential(args))
            return Fail(ExitCodes.CredentialInArgv,
                "refusing to run: the command line carries a credential (process listings leak argv); pass tokens through the environment");

        string? gateway = null, label = null, cli = null;
        var userFlags = false;
        for (var i = 0; i < args.Count; i++)
        {
            var a = args[i];
            string? inline = null;
            var eq = a.IndexOf('=', StringComparison.Ordinal);
            if (a.StartsWith("--", StringComparison.Ordinal) && eq > 0) { inline = a[(eq + 1)..]; a = a[..eq]; }
            switch (a)
            {
                case "-h" or "--help":
                    return new ParseResult(null, ExitCodes.Ok, Usage);
                case "--gateway" or "--label" or "--cli":
                    var value = inline ?? (i + 1 < args.Count ? args[++i] : null);
                    if (string.IsNullOrEmpty(value)) return Fail(ExitCodes.Usage, $"{a} needs a value");
                    if (a == "--gateway") gateway = value;
                    else if (a == "--label") label = value;
                    else cli = value;
                    userFlags = true;
                    break;
                default:
                    return Fail(ExitCodes.Usage, $"unknown argument '{a}' (see --help)");
            }
        }

        var limit = DefaultMaxResultBytes;
        var limitText = env("KRUXOS_MAX_RESULT_BYTES");
        if (!string.IsNullOrWhiteSpace(limitText) && (!int.TryParse(limitText.Trim(), out limit) || limit < MinMaxResultBytes))
            return Fail(ExitCodes.Usage, $"KRUXOS_MAX_RESULT_BYTES must be an integer of at least {MinMaxResultBytes}");
        var level = BridgeLog.ParseLevel(env("KRUXOS_LOG"));

        var agentToken = NonEmpty(env("KRUXOS_AGENT_TOKEN"));
        var endpointEnv = NonEmpty(env("KRUXOS_ENDPOINT"));
        var agentMode = !userFlags && (agentToken is not null || endpointEnv is not null || NonEmpty(env("KRUXOS_USER_TOKEN")) is null);

        if (agentMode)
        {
            if (agentToken is null)
                return Fail(ExitCodes.CredentialMissing, "no credential: set KRUXOS_AGENT_TOKEN (agent mode) or KRUXOS_USER_TOKEN with --gateway/--label (user mode)");
            if (endpointEnv is null) return Fail(ExitCodes.Usage, "KRUXOS_ENDPOINT is not set (e.g. wss://localhost:7700)");
            if (!TryNormalizeEndpoint(endpointEnv, out var endpoint, out var why)) return Fail(ExitCodes.Usage, "KRUXOS_ENDPOINT: " + why);
            return new ParseResult(new BridgeOptions
            {
                Mode = BridgeMode.Agent,
                Endpoint = endpoint,
                Token = agentToken,
                AgentName = NonEmpty(env("KRUXOS_AGENT_NAME")),
                MaxResultBytes = limit,
                LogLevel = level,
            }, ExitCodes.Ok, "");
        }

        if (cli is not null && !KnownClis.Contains(cli))
            return Fail(ExitCodes.Usage, $"--cli must be one of: {string.Join(", ", KnownClis)}");
        if (!TryNormalizeEndpoint(gateway ?? DefaultGateway, out var gw, out var gwWhy)) return Fail(ExitCodes.Usage, "--gateway: " + gwWhy);
        if (label is not null && (label.Length > CredentialMinting.MaxLabelLength || label.Any(char.IsControl)))
            return Fail(ExitCodes.Usage, $"--label must be 1-{CredentialMinting.MaxLabelLength} printable characters");
        // KRUXOS_USER_TOKEN wins; without it every connection gets a fresh credential from the auth socket.
        var userToken = NonEmpty(env("KRUXOS_USER_TOKEN"));
        return new ParseResult(new BridgeOptions
        {
            Mode = BridgeMode.User,
            Endpoint = gw,
            Token = userToken,
            AuthSocket = userToken is null ? NonEmpty(env("KRUXOS_AUTH_SOCKET")) ?? AuthSocketCredential.DefaultPath : null,
            Label = label ?? DefaultLabel,
            Cli = cli,
            MaxResultBytes = limit,
            LogLevel = level,
        }, ExitCodes.Ok, "");
    }

    /// <summary>Text printed for <c>--help</c>.</summary>
    public const string Usage = """
        mcp-bridge: stdio MCP server that forwards JSON-RPC to the KruxOS gateway over WebSocket.

        Agent mode (environment):  KRUXOS_ENDPOINT=wss://host:7700  KRUXOS_AGENT_NAME=name  KRUXOS_AGENT_TOKEN=<64 hex>
        User mode (flags):         mcp-bridge --gateway wss://127.0.0.1:7700 --label primary --cli claude-code
                                   credential: KRUXOS_USER_TOKEN, or else a short-lived one minted for the
                                   label over the gateway's auth socket (KRUXOS_AUTH_SOCKET, default
                                   /run/kruxos/auth.sock) for every connection
        TLS (wss://):              the certificate is checked against the system trust store and the CA of a
                                   gateway on this host (found like the control socket), or KRUXOS_CA_CERT=ca.crt
        Other settings:            KRUXOS_LOG=debug|info|warn|error   KRUXOS_MAX_RESULT_BYTES (default 1048576)

        Never put a token on the command line: the bridge refuses to run (exit 2).
        Exit codes: 0 stdin closed, 1 usage, 2 credential in argv, 3 credential source locked,
        4 credential missing, 5 credential source unavailable, 10 authentication refused, 11 gateway unreachable.
        """;

    private static ParseResult Fail(int code, string message) => new(null, code, message);

    private static string? NonEmpty(string? s) => string.IsNullOrWhiteSpace(s) ? null : s.Trim();
}
