using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace KruxOS.CliHook;

/// <summary>The gateway's answer for one capability call.</summary>
public sealed record GatewayDecision(string Decision, string Capability, string? Tier, string? Code, string? Reason, string? ApprovalId);

/// <summary>
/// Asks the gateway's User API (<c>POST /api/hook/decide</c>) for a decision. Every failure — unreachable,
/// refused credential, HTTP error, an answer it cannot read — becomes a <see cref="HookDenial"/>.
/// </summary>
public sealed class GatewayClient(HttpClient http, Uri gateway, string token)
{
    /// <summary>Decides one call; the denial is set when the answer is not <c>allow</c>.</summary>
    public async Task<(GatewayDecision? Decision, HookDenial? Denial)> DecideAsync(HookEvent e, CapabilityCall call, CancellationToken ct)
    {
        var body = new JsonObject
        {
            ["client"] = e.Client.Wire(),
            ["native_tool"] = e.ToolName,
            ["capability"] = call.Capability,
            ["arguments"] = call.Arguments.DeepClone(),
            ["cwd"] = e.Cwd,
        };
        if (!string.IsNullOrEmpty(e.SessionId)) body["session_id"] = e.SessionId;
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(gateway, "/api/hook/decide"))
        {
            Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            return (null, new HookDenial("gateway_unreachable",
                $"the KruxOS gateway at {gateway} could not be reached ({Describe(ex)}); nothing runs without its decision. Check that the gateway is running (kruxos status)."));
        }
        using (response)
        {
            string text;
            try { text = await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false); }
            catch (HttpRequestException ex)
            {
                return (null, new HookDenial("gateway_unreachable", $"the connection to the KruxOS gateway broke while reading its answer ({Describe(ex)})."));
            }
            JsonNode? json = null;
            try { json = JsonNode.Parse(text); } catch (JsonException) { }
            // The gateway's error body names its text `description` (spec §3.7); `message` is the older alias.
            var message = json is JsonObject o ? Str(o, "description") ?? Str(o, "message") : null;
            switch (response.StatusCode)
            {
                case HttpStatusCode.OK:
                    break;
                case HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden or HttpStatusCode.TooManyRequests:
                    return (null, new HookDenial("auth_refused",
                        $"the KruxOS gateway refused the hook's credential ({Str(json as JsonObject, "error") ?? Str(json as JsonObject, "error_type") ?? ((int)response.StatusCode).ToString(System.Globalization.CultureInfo.InvariantCulture)}): {message ?? "no reason given"}. The hook needs a client credential: a client user token in KRUXOS_USER_TOKEN, or none there so that it mints one over the auth socket."));
                case HttpStatusCode.BadRequest:
                    return (null, new HookDenial("invalid_request", $"the KruxOS gateway refused the hook's request: {message ?? "bad request"}."));
                default:
                    return (null, new HookDenial("gateway_error", $"the KruxOS gateway answered HTTP {(int)response.StatusCode}{(message is null ? "" : ": " + message)}."));
            }
            if (json is not JsonObject answer || Str(answer, "decision") is not { } decision)
                return (null, new HookDenial("gateway_error", "the KruxOS gateway's answer could not be read."));
            var d = new GatewayDecision(decision, Str(answer, "capability") ?? call.Capability, Str(answer, "tier"), Str(answer, "code"), Str(answer, "reason"), Str(answer, "approval_id"));
            return decision switch
            {
                "allow" => (d, null),
                "pending" when d.ApprovalId is { } id => (d, new HookDenial("approval_pending",
                    $"pending approval {id}, retry after it is approved ({d.Capability} needs a human decision; approve it with 'kruxos approve accept {id}' or on the dashboard, then send the identical call again).", id)),
                "deny" => (d, new HookDenial(d.Code ?? "denied", $"{d.Capability}: {d.Reason ?? "denied by the gateway"}")),
                _ => (d, new HookDenial("gateway_error", $"the KruxOS gateway answered an unknown decision '{HookEventParser.Clip(decision)}'.")),
            };
        }
    }

    private static string Describe(HttpRequestException ex) =>
        ex.HttpRequestError is HttpRequestError.Unknown ? ex.InnerException?.Message ?? ex.Message : ex.HttpRequestError.ToString();

    private static string? Str(JsonObject? o, string name) =>
        o is not null && o.TryGetPropertyValue(name, out var v) && v is JsonValue jv && jv.TryGetValue<string>(out var s) ? s : null;
}
