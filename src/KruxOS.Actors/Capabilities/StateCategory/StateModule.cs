using System.Text.Json;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.State;

namespace KruxOS.Actors.Capabilities.StateCategory;

/// <summary>
/// The <c>state.*</c> capabilities (spec §8.15): session, persistent and shared state, answered in process by the state
/// area's entities (ADR 0035). An agent only ever reaches its own persistent and session state: the agent and session
/// come from the authenticated call, never from an argument.
/// </summary>
public sealed class StateModule() : CapabilityModule("state", "state");

/// <summary>What every state handler does with arguments and replies.</summary>
internal static class StateCalls
{
    /// <summary>The reply as the capability's output, or its refusal as the call's error.</summary>
    public static CapabilityOutput Answer(IStateReply reply) => reply is StateRefused refused
        ? throw new CapabilityException(refused.Error)
        : CapabilityCatalog.ToElement<object>(reply);

    /// <summary>A required string argument (the validator has checked it is present and a string).</summary>
    public static string Text(JsonElement args, string name) => args.GetProperty(name).GetString()!;

    /// <summary>An optional string argument.</summary>
    public static string? OptionalText(JsonElement args, string name) =>
        args.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>An optional integer argument.</summary>
    public static long? OptionalInteger(JsonElement args, string name) =>
        args.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;

    /// <summary>The <c>value</c> argument in canonical form; malformed or oversized JSON is <c>InvalidInput</c>.</summary>
    public static StoredJson Value(JsonElement args, int maxBytes) =>
        StoredJson.TryCreate(args.GetProperty("value"), maxBytes, out var stored, out var reason)
            ? stored
            : throw new CapabilityException(Errors.InvalidInput("value", reason));
}
