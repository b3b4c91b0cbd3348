using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.State;
using KruxOS.Core;
using KruxOS.Core.Admin;
using KruxOS.Core.State;

namespace KruxOS.Gateway.Control;

/// <summary>
/// The <c>state.*</c> methods of the control socket and the User API's state routes: parameters read, <see cref="StateAdmin"/>
/// called as <c>by</c> (the adapter's authenticated operator, audited there), the reply rendered with the capability's own
/// snake_case fields. Parameters: <c>agent</c>, <c>key</c>, <c>prefix</c>, <c>version</c>, <c>value</c> (any JSON),
/// <c>expected_version</c>.
/// </summary>
public sealed class StateControl(StateAdmin admin)
{
    /// <summary><c>state.list {agent, prefix?}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> ListAsync(JsonObject p, CancellationToken ct) =>
        Render(await admin.ListAsync(Text(p, "agent"), Text(p, "prefix"), ct).ConfigureAwait(false));

    /// <summary><c>state.get {agent, key, version?}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> GetAsync(JsonObject p, CancellationToken ct) =>
        Render(await admin.GetAsync(Text(p, "agent"), Text(p, "key"), Integer(p, "version"), ct).ConfigureAwait(false));

    /// <summary><c>state.quota {agent}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> QuotaAsync(JsonObject p, CancellationToken ct) =>
        Render(await admin.QuotaAsync(Text(p, "agent"), ct).ConfigureAwait(false));

    /// <summary><c>state.set {agent, key, value}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> SetAsync(JsonObject p, string by, CancellationToken ct) =>
        Value(p) is not { } value ? (null, AdminErrors.InvalidInput("a value is required (any JSON)"))
        : Render(await admin.SetAsync(Text(p, "agent"), Text(p, "key"), value, by, ct).ConfigureAwait(false));

    /// <summary><c>state.delete {agent, key}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> DeleteAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.DeleteAsync(Text(p, "agent"), Text(p, "key"), by, ct).ConfigureAwait(false));

    /// <summary><c>state.shared.list {prefix?}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> SharedListAsync(JsonObject p, CancellationToken ct) =>
        Render(await admin.SharedListAsync(Text(p, "prefix"), ct).ConfigureAwait(false));

    /// <summary><c>state.shared.get {key}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> SharedGetAsync(JsonObject p, CancellationToken ct) =>
        Render(await admin.SharedGetAsync(Text(p, "key"), ct).ConfigureAwait(false));

    /// <summary><c>state.shared.set {key, value, expected_version}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> SharedSetAsync(JsonObject p, string by, CancellationToken ct) =>
        Value(p) is not { } value ? (null, AdminErrors.InvalidInput("a value is required (any JSON)"))
        : Render(await admin.SharedSetAsync(Text(p, "key"), value, Integer(p, "expected_version"), by, ct).ConfigureAwait(false));

    /// <summary><c>state.shared.delete {key}</c>.</summary>
    public async Task<(JsonNode?, AdminError?)> SharedDeleteAsync(JsonObject p, string by, CancellationToken ct) =>
        Render(await admin.SharedDeleteAsync(Text(p, "key"), by, ct).ConfigureAwait(false));

    /// <summary>A state reply with the capability's snake_case fields.</summary>
    public static JsonNode Reply(IStateReply reply) => JsonSerializer.SerializeToNode<object>(reply, CoreJson.Options)!;

    private static (JsonNode?, AdminError?) Render(AdminResult<IStateReply> result) => result.IsOk ? (Reply(result.Value!), null) : (null, result.Error);

    private static string? Text(JsonObject p, string name) => p[name]?.GetValue<string>();

    // Any JSON integer, whether the node was parsed from text or built in process (an int stays an int there).
    private static long? Integer(JsonObject p, string name) =>
        p[name] is JsonValue v && v.GetValueKind() == JsonValueKind.Number
        && long.TryParse(v.ToJsonString(), System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n
            : null;

    // The value as given (any JSON, null included when the key is present).
    private static JsonElement? Value(JsonObject p) =>
        p.TryGetPropertyValue("value", out var node) ? JsonSerializer.SerializeToElement(node) : null;
}
