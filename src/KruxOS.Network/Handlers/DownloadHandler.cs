using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Capabilities;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Sandbox;

namespace KruxOS.Network.Handlers;

/// <summary>
/// <c>network.download</c>: the response body of an allowed destination, streamed into a file of the agent's workspace.
/// The gateway only fetches; every write is done by the agent's sandbox worker, as the agent's uid, with the path rules
/// of <c>filesystem.write</c> (<see cref="ISandbox.StreamFileAsync"/>): a temp file beside the target, appended chunk by
/// chunk, hashed as it is on disk, and renamed into place, or deleted on an <c>expected_checksum</c> mismatch. The
/// path is resolved in the sandbox before the policy decides (ADR 0023), like <c>filesystem.write</c>'s.
/// </summary>
[Capability("network.download")]
public sealed class DownloadHandler(EgressClient client, ISandbox sandbox) : ICapabilityHandler, IPathResolvingHandler
{
    private static readonly TimeSpan StageTimeout = TimeSpan.FromSeconds(60);

    /// <inheritdoc />
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var target = RequestInputs.Target(arguments);
        var path = RequestInputs.Str(arguments, "path") ?? throw RequestInputs.Invalid("path", "is required");
        var overwrite = RequestInputs.Bool(arguments, "overwrite", false);
        var expected = RequestInputs.Str(arguments, "expected_checksum");
        var agent = context.Session.Agent;
        var request = new EgressRequest(target, "GET", [], null, FollowRedirects: true, context.Policy.Egress(context.Principal));
        var options = client.Options;
        try
        {
            return await Requests.GuardedAsync(options.DownloadTimeout, "the download", Requests.Identity, cancellationToken, async (ct, clock) =>
            {
                using var response = await client.SendAsync(request, RefusalWording.Domain, ct).ConfigureAwait(false);
                var status = (int)response.Response.StatusCode;
                if (status is < 200 or > 299)
                    throw Failed($"the server answered HTTP {status}", retryable: status >= 500);
                if (response.Response.Content.Headers.ContentLength > options.MaxDownloadBytes) throw TooLarge(options.MaxDownloadBytes);

                var begun = await StageAsync(agent, new JsonObject { ["stage"] = "begin", ["path"] = path, ["overwrite"] = overwrite }, context.PathsDecided, ct).ConfigureAwait(false);
                var temp = begun.GetProperty("temp").GetString()!;
                try
                {
                    await using var body = await response.Response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
                    var buffer = new byte[options.DownloadChunkBytes];
                    long total = 0;
                    while (true)
                    {
                        var filled = 0;
                        int n;
                        while (filled < buffer.Length && (n = await body.ReadAsync(buffer.AsMemory(filled), ct).ConfigureAwait(false)) > 0) filled += n;
                        if (filled == 0) break;
                        total += filled;
                        if (total > options.MaxDownloadBytes) throw TooLarge(options.MaxDownloadBytes);
                        await StageAsync(agent, new JsonObject
                        {
                            ["stage"] = "chunk", ["path"] = path, ["temp"] = temp, ["content"] = Convert.ToBase64String(buffer, 0, filled),
                        }, context.PathsDecided, ct).ConfigureAwait(false);
                        if (filled < buffer.Length) break;
                    }
                    var committed = await StageAsync(agent, new JsonObject
                    {
                        ["stage"] = "commit", ["path"] = path, ["temp"] = temp, ["overwrite"] = overwrite, ["expected_checksum"] = expected,
                    }, context.PathsDecided, ct).ConfigureAwait(false);
                    temp = string.Empty;
                    return new CapabilityOutput(CapabilityCatalog.ToElement(new
                    {
                        path = committed.GetProperty("path").GetString(),
                        size = committed.GetProperty("size").GetInt64(),
                        checksum = committed.GetProperty("checksum").GetString(),
                        duration_ms = clock.ElapsedMilliseconds,
                        url = response.Final.Uri.AbsoluteUri,
                    }));
                }
                finally
                {
                    // A commit that ran (matched or not) has left no temp file; anything else removes it.
                    if (temp.Length > 0) await AbortAsync(agent, path, temp, context.PathsDecided).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
        }
        catch (CapabilityException e) when (e.Error.ErrorType == "RequestFailed")
        {
            throw new CapabilityException(StructuredError.Create("DownloadFailed", e.Error.Message.Replace("Request failed:", "Download failed:", StringComparison.Ordinal), e.Error.Retryable)
                .WithRecovery("retry", "Check the URL and try again.") with { Context = e.Error.Context });
        }
    }

    private async Task<JsonElement> StageAsync(AgentName agent, JsonObject stage, bool pathsDecided, CancellationToken ct)
    {
        var result = await sandbox.StreamFileAsync(agent, JsonSerializer.SerializeToElement(stage), pathsDecided, StageTimeout, ct).ConfigureAwait(false);
        return result.IsSuccess && result.Data is { } data ? data : throw new CapabilityException(result.Error ?? Errors.Internal("the sandbox did not answer the download stage"));
    }

    private async Task AbortAsync(AgentName agent, string path, string temp, bool pathsDecided)
    {
        using var bounded = new CancellationTokenSource(StageTimeout);
        try
        {
            await sandbox.StreamFileAsync(agent, JsonSerializer.SerializeToElement(new JsonObject { ["stage"] = "abort", ["path"] = path, ["temp"] = temp }),
                pathsDecided, StageTimeout, bounded.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or IOException or InvalidOperationException)
        {
            // The temp file is hidden and named as the worker's temp files are; the call's error is what matters here.
        }
    }

    private static CapabilityException Failed(string reason, bool retryable = false) =>
        new(StructuredError.Create("DownloadFailed", $"Download failed: {reason}", retryable)
            .WithRecovery("retry", "Check the URL and try again.").WithContext("reason", reason));

    private static CapabilityException TooLarge(long cap) =>
        new(StructuredError.Create("DownloadFailed", $"Download failed: the content is larger than {cap} bytes, the download limit")
            .WithRecovery("check_url", "Check that the URL names the file you expect.").WithContext("limit_bytes", cap));

    /// <inheritdoc />
    public Task<PathResolution> ResolvePathsAsync(AgentName agent, JsonElement arguments, IReadOnlyList<string> names, CancellationToken cancellationToken) =>
        sandbox.ResolveArgumentPathsAsync(agent, KruxOS.Core.Capabilities.CapabilityName.Parse("network.download"), arguments, names, cancellationToken);

    /// <inheritdoc />
    public TimeSpan MaxDuration(JsonElement arguments) => client.Options.DownloadTimeout + TimeSpan.FromSeconds(15);
}
