using System.Diagnostics;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Network;

namespace KruxOS.Network.Handlers;

/// <summary>Runs the network part of a call under its timeout, turning every transport failure into a structured error.</summary>
internal static class Requests
{
    public static async Task<T> GuardedAsync<T>(TimeSpan timeout, string what, Func<string, string> scrub, CancellationToken ct,
        Func<CancellationToken, Stopwatch, Task<T>> run)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        var clock = Stopwatch.StartNew();
        try
        {
            return await run(deadline.Token, clock).ConfigureAwait(false);
        }
        catch (CapabilityException e)
        {
            // Every message that leaves a credentialed call is scrubbed, whatever produced it.
            throw new CapabilityException(Scrubbed(e.Error, scrub), e.Usage);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new CapabilityException(NetworkErrors.RequestFailed($"{what} timed out after {timeout.TotalSeconds:0} s", retryable: true)
                .WithContext("timeout_seconds", timeout.TotalSeconds));
        }
        catch (Exception e) when (e is HttpRequestException or IOException or System.Net.Sockets.SocketException)
        {
            throw new CapabilityException(NetworkErrors.RequestFailed(scrub($"{what} failed: {EgressClient.Describe(e)}"), retryable: true));
        }
    }

    public static StructuredError Scrubbed(StructuredError error, Func<string, string> scrub)
    {
        var context = error.Context;
        foreach (var (key, value) in error.Context)
            if (value.ValueKind == System.Text.Json.JsonValueKind.String)
                context = context.SetItem(key, System.Text.Json.JsonSerializer.SerializeToElement(scrub(value.GetString()!)));
        return error with { Message = scrub(error.Message), Context = context };
    }

    public static readonly Func<string, string> Identity = static s => s;
}
