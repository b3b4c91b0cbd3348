using System.Diagnostics;
using KruxOS.Core.Identity;

namespace KruxOS.CliHook;

/// <summary>
/// One hook run: read the event, map it, ask the gateway, answer in the client's format. The whole run is
/// bounded by <see cref="HookOptions.Timeout"/>; whatever fails or runs out of time denies. Standard output
/// carries only the answer; diagnostics go to standard error and never include the token.
/// </summary>
public static class HookRunner
{
    /// <summary>Asks an auth socket for a credential: (socket path, label, timeout, cancellation) → the socket's answer.</summary>
    public delegate Task<AuthSocketProtocol.Answer> Minter(string socketPath, string label, TimeSpan timeout, CancellationToken ct);

    /// <summary>Runs the hook. <paramref name="handler"/> replaces the HTTP stack and <paramref name="mint"/> the auth socket in tests.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, Func<string, string?> env, Stream stdin, TextWriter stdout, TextWriter stderr,
        HttpMessageHandler? handler = null, Minter? mint = null)
    {
        var parsed = HookOptions.Parse(args);
        if (parsed.Help)
        {
            await stdout.WriteLineAsync(parsed.Message).ConfigureAwait(false);
            return ExitCodes.Answered;
        }
        if (parsed.ExitCode is { } refused)
        {
            await stderr.WriteLineAsync($"cli-hook: {parsed.Message} (exit {refused})").ConfigureAwait(false);
            return refused;
        }
        var options = parsed.Options;
        var debug = string.Equals(env("KRUXOS_LOG")?.Trim(), "debug", StringComparison.OrdinalIgnoreCase);
        var started = Stopwatch.GetTimestamp();
        var timeout = options?.Timeout ?? HookOptions.DefaultTimeout;
        using var deadline = new CancellationTokenSource(timeout);
        var client = options?.Client ?? HookClient.ClaudeCode;
        var exit = ExitCodes.Answered;
        HookVerdict verdict;
        try
        {
            var run = DecideAsync(options, parsed.Message, env, stdin, handler, mint ?? AuthSocketClient.MintAsync, deadline.Token);
            (verdict, client, exit) = await run.WaitAsync(timeout + TimeSpan.FromMilliseconds(250)).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or TimeoutException)
        {
            verdict = HookVerdict.Deny(new HookDenial("timeout",
                $"no decision within {timeout.TotalSeconds:0.#} s (the KruxOS gateway or the hook's input was too slow); retry the call."));
        }
#pragma warning disable CA1031 // the hook must answer deny on any failure, whatever its type
        catch (Exception e)
#pragma warning restore CA1031
        {
            verdict = HookVerdict.Deny(new HookDenial("internal_error", $"cli-hook failed ({e.GetType().Name}); nothing runs without a decision."));
        }
        if (exit is ExitCodes.CredentialSourceLocked or ExitCodes.CredentialMissing or ExitCodes.CredentialSourceUnavailable)
            await stderr.WriteLineAsync($"cli-hook: no credential, the call is denied (exit {exit}): {verdict.Reason}").ConfigureAwait(false);
        if (debug)
            await stderr.WriteLineAsync($"cli-hook: {(verdict.Allowed ? "allow" : "deny")} in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms: {verdict.Reason}").ConfigureAwait(false);
        try
        {
            var text = HookAnswer.Render(client, verdict);
            if (text.Length > 0) await stdout.WriteLineAsync(text).ConfigureAwait(false);
            await stdout.FlushAsync().ConfigureAwait(false);
        }
        catch (IOException)
        {
            // No answer could be written: exit 2 is both clients' "block" code, with the reason on stderr.
            await stderr.WriteLineAsync("cli-hook: could not write the answer; blocking the call. " + verdict.Reason).ConfigureAwait(false);
            return ExitCodes.Blocked;
        }
        return exit;
    }

    private static async Task<(HookVerdict Verdict, HookClient Client, int Exit)> DecideAsync(HookOptions? options, string configurationError,
        Func<string, string?> env, Stream stdin, HttpMessageHandler? handler, Minter mint, CancellationToken ct)
    {
        var forced = options?.Client;
        var (bytes, tooLarge) = await ReadBoundedAsync(stdin, HookEventParser.MaxEventBytes, ct).ConfigureAwait(false);
        if (tooLarge)
            return (HookVerdict.Deny(HookEventParser.Malformed($"the hook event is larger than {HookEventParser.MaxEventBytes} bytes")), forced ?? HookClient.ClaudeCode, ExitCodes.Answered);
        if (!HookEventParser.TryParse(bytes, forced, out var hookEvent, out var client, out var malformed))
            return (HookVerdict.Deny(malformed!), client, ExitCodes.Answered);
        if (options is null)
            return (HookVerdict.Deny(new HookDenial("configuration", $"cli-hook is misconfigured: {configurationError}. Fix the hook command in the client's settings.")), client, ExitCodes.Answered);
        var mapping = ToolMapper.Map(hookEvent!);
        if (mapping.Denial is { } unmapped) return (HookVerdict.Deny(unmapped), client, ExitCodes.Answered);

        var (token, refused, refusedExit) = await CredentialAsync(options, client, env, mint, ct).ConfigureAwait(false);
        if (token is null) return (HookVerdict.Deny(refused!), client, refusedExit);

        // Never through a proxy from the environment: the User API is local, and the bearer token must not travel elsewhere.
        using var http = handler is null
            ? new HttpClient(new SocketsHttpHandler { UseProxy = false, AllowAutoRedirect = false }, disposeHandler: true)
            : new HttpClient(handler, disposeHandler: false);
        http.Timeout = Timeout.InfiniteTimeSpan; // the run's deadline bounds every request
        var gateway = new GatewayClient(http, options.Gateway, token);
        var allowed = new List<string>();
        foreach (var call in mapping.Calls)
        {
            var (decision, denial) = await gateway.DecideAsync(hookEvent!, call, ct).ConfigureAwait(false);
            if (denial is not null) return (HookVerdict.Deny(denial), client, ExitCodes.Answered);
            allowed.Add(decision!.Tier is { } tier ? $"{decision.Capability} ({tier})" : decision.Capability);
        }
        return (HookVerdict.Allow("KruxOS allowed: " + string.Join(", ", allowed)), client, ExitCodes.Answered);
    }

    /// <summary>
    /// The credential for this run: <c>KRUXOS_USER_TOKEN</c> when set (hardened environments without the auth socket),
    /// otherwise a short-lived credential minted for the label over the gateway's auth socket — the way mcp-bridge gets
    /// its own (ADR 0011), so no token has to live in the client's environment. A minted credential is always a client
    /// credential: it can have the gateway decide calls, never decide an approval (ADR 0021).
    /// </summary>
    private static async Task<(string? Token, HookDenial? Refused, int Exit)> CredentialAsync(HookOptions options, HookClient client,
        Func<string, string?> env, Minter mint, CancellationToken ct)
    {
        var fromEnvironment = env("KRUXOS_USER_TOKEN")?.Trim();
        if (!string.IsNullOrEmpty(fromEnvironment)) return (fromEnvironment, null, ExitCodes.Answered);
        var socket = options.AuthSocket ?? (env("KRUXOS_AUTH_SOCKET")?.Trim() is { Length: > 0 } s ? s : AuthSocketClient.DefaultPath);
        var label = options.Label ?? HookOptions.DefaultLabel(client);
        var answer = await mint(socket, label, AuthSocketClient.DefaultTimeout, ct).ConfigureAwait(false);
        if (answer.Token is { } minted) return (minted, null, ExitCodes.Answered);
        var what = answer.Answered ? $"the auth socket {socket} refused to mint a credential for '{label}' ({answer.ErrorType}): {answer.Message}" : answer.Message;
        return answer.ErrorType switch
        {
            AuthSocketProtocol.ErrorTypes.Locked => (null, new HookDenial("credential_locked", what + "."), ExitCodes.CredentialSourceLocked),
            AuthSocketProtocol.ErrorTypes.Missing => (null, new HookDenial("credential_missing",
                what + $". Create the client token with 'kruxos user-token create {label}', or pass --label."), ExitCodes.CredentialMissing),
            _ => (null, new HookDenial("credential_unavailable",
                what + ". Check that the gateway runs and this user may use its auth socket (Gateway:AuthSocketUids), or set KRUXOS_USER_TOKEN."),
                ExitCodes.CredentialSourceUnavailable),
        };
    }

    private static async Task<(byte[] Bytes, bool TooLarge)> ReadBoundedAsync(Stream stream, int max, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        while (true)
        {
            var n = await stream.ReadAsync(chunk, ct).ConfigureAwait(false);
            if (n == 0) return (buffer.ToArray(), false);
            if (buffer.Length + n > max) return ([], true);
            buffer.Write(chunk, 0, n);
        }
    }
}
