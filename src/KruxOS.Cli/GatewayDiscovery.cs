using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary>A user token as <c>user-token list</c> shows it (metadata only).</summary>
public sealed record UserTokenSummary(string Id, string Label, bool Active);

/// <summary>What the CLI learned about the running gateway.</summary>
/// <param name="Info">What it serves; null when no running gateway was found.</param>
/// <param name="Source">Where that came from, or why nothing was found (for messages).</param>
/// <param name="Tokens">Its user tokens, when the control socket could be used; else null.</param>
public sealed record DiscoveredGateway(GatewayRuntimeInfo? Info, string Source, IReadOnlyList<UserTokenSummary>? Tokens)
{
    /// <summary>Whether an active user token has <paramref name="label"/>; null when the tokens could not be read.</summary>
    public bool? HasActiveToken(string label) => Tokens?.Any(t => t.Active && t.Label == label);
}

/// <summary>
/// Finds the running gateway the way a client would reach it: over the control socket (root or the gateway's
/// owner: <c>status</c> carries its endpoints, and the user tokens can be listed), else from the file it
/// publishes next to its auth socket (other users), else nothing.
/// </summary>
public static class GatewayDiscovery
{
    /// <summary>How long the control socket may take to answer before the published file is tried.</summary>
    public static readonly TimeSpan ControlTimeout = TimeSpan.FromSeconds(10);

    public static async Task<DiscoveredGateway> FindAsync(ControlClient client, CancellationToken ct)
    {
        string why;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(ControlTimeout);
        try
        {
            var status = await client.CallAsync(M.Status, null, timeout.Token).ConfigureAwait(false);
            if (status.Ok && GatewayRuntimeInfo.Parse(status.Result?["endpoints"]) is { } info)
            {
                var list = await client.CallAsync(M.UserTokenList, null, timeout.Token).ConfigureAwait(false);
                return new DiscoveredGateway(info, $"the running gateway (control socket {client.SocketPath})", list.Ok ? Tokens(list.Result) : null);
            }
            why = status.Ok ? "the gateway's status carries no endpoints (an older gateway)" : $"the control socket refused: {status.ErrorMessage}";
        }
        catch (GatewayUnreachableException e)
        {
            why = e.Message;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            why = $"the control socket {client.SocketPath} did not answer within {ControlTimeout.TotalSeconds:0} s";
        }
        foreach (var path in client.PublishedInfo)
        {
            if (Read(path) is { } info && IsAlive(info.ProcessId))
                return new DiscoveredGateway(info, $"the running gateway ({path})", null);
        }
        return new DiscoveredGateway(null, why, null);
    }

    private static List<UserTokenSummary> Tokens(JsonNode? result) =>
        [.. (result?["tokens"] as JsonArray ?? []).Select(t => new UserTokenSummary(
            Output.Str(t, "id"), Output.Str(t, "label"), Output.Str(t, "status") == "active"))];

    private static GatewayRuntimeInfo? Read(string path)
    {
        try { return File.Exists(path) ? GatewayRuntimeInfo.ParseText(File.ReadAllText(path)) : null; }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    // A file left by a gateway that was killed names a process that is gone.
    private static bool IsAlive(int pid) => pid > 0 && (!OperatingSystem.IsLinux() || Directory.Exists($"/proc/{pid}"));
}
