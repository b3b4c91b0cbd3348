using System.Text.Json.Nodes;
using KruxOS.Core.Control;

namespace KruxOS.Cli;

/// <summary>What every command group does with one control-socket call: the error on stderr, or the result printed.</summary>
internal static class CliCalls
{
    /// <summary>
    /// Sends <paramref name="method"/>; a refusal prints <c>error: message (type)</c> and gives <see cref="CliApp.Refused"/>,
    /// an answer prints its JSON (<paramref name="indented"/> as <see cref="Output.Json"/>, otherwise compact) or its
    /// rendering.
    /// </summary>
    public static async Task<int> CallAsync(ControlClient client, TextWriter stdout, TextWriter stderr, string method, JsonObject? parameters,
        bool asJson, Func<JsonNode?, string> render, bool indented, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentNullException.ThrowIfNull(stdout);
        ArgumentNullException.ThrowIfNull(stderr);
        ArgumentNullException.ThrowIfNull(render);
        var r = await client.CallAsync(method, parameters, ct).ConfigureAwait(false);
        if (!r.Ok)
        {
            await stderr.WriteLineAsync($"error: {r.ErrorMessage} ({r.ErrorType})").ConfigureAwait(false);
            return CliApp.Refused;
        }
        var json = indented ? Output.Json(r.Result) : r.Result?.ToJsonString();
        await stdout.WriteAsync(asJson ? json + "\n" : render(r.Result)).ConfigureAwait(false);
        return 0;
    }

    /// <summary>A field of an answer as text, empty when absent.</summary>
    public static string Str(JsonNode? node, string key) => node?[key]?.ToString() ?? "";
}
