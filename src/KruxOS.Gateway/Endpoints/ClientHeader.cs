using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;

namespace KruxOS.Gateway.Endpoints;

/// <summary>Reads the <c>X-KruxOS-Client</c> attribution header of a WebSocket upgrade or HTTP MCP request (rule: <see cref="ClientAttribution"/>).</summary>
public static class ClientHeader
{
    /// <summary>True with the attribution (or null when absent); false with a 400 error to answer when the value is not a valid token.</summary>
    public static bool TryRead(HttpContext http, out string? cli, out StructuredError? error)
    {
        error = null;
        var values = http.Request.Headers[ClientAttribution.Header];
        if (values.Count > 1)
        {
            cli = null;
            error = Invalid($"send {ClientAttribution.Header} at most once");
            return false;
        }
        if (ClientAttribution.TryParseHeader(values.Count == 1 ? values[0] : null, out cli, out var reason)) return true;
        error = Invalid(reason);
        return false;
    }

    private static StructuredError Invalid(string reason) =>
        StructuredError.Create("invalid_client_header", $"Refused: {reason}.")
            .WithRecovery("fix_header", $"Send {ClientAttribution.Header}: claude-code, codex or another short token, or leave it out.")
            .WithContext("header", ClientAttribution.Header);
}
