using System.Text.Json;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>Typed reads of the (already validated) argument object.</summary>
internal static class Args
{
    public static string Str(JsonElement a, string name) =>
        OptStr(a, name) ?? throw FsErrors.InvalidInput(name, "required field is missing");

    public static string? OptStr(JsonElement a, string name) =>
        a.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    public static bool Bool(JsonElement a, string name, bool fallback = false) =>
        a.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    public static long? OptLong(JsonElement a, string name) =>
        a.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var l) ? l : null;

    public static JsonElement? Opt(JsonElement a, string name) =>
        a.TryGetProperty(name, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? v : null;

    public static string[] StrArray(JsonElement a, string name) =>
        a.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Array
            ? [.. v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.String ? x.GetString()! : throw FsErrors.InvalidInput(name, "must contain strings"))]
            : [];
}
