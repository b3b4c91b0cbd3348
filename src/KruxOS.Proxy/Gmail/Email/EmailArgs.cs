using System.Text.Json;
using KruxOS.Capabilities;

namespace KruxOS.Proxy.Gmail.Email;

/// <summary>Argument reading shared by the email handlers (types were validated at the boundary; this checks meaning).</summary>
internal static class EmailArgs
{
    public static string? Str(JsonElement a, string name) =>
        a.ValueKind == JsonValueKind.Object && a.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    /// <summary>A required message id: present (<c>MissingParameter</c>) and shaped like a Gmail id (<c>InvalidInput</c>).</summary>
    public static string MessageId(JsonElement a, string name = "message_id")
    {
        var id = Str(a, name);
        if (string.IsNullOrWhiteSpace(id)) throw new CapabilityException(EmailErrors.MissingParameter(name));
        if (!GmailApiClient.IsValidId(id)) throw new CapabilityException(EmailErrors.Invalid(name, "not a Gmail message id"));
        return id;
    }

    /// <summary>A string array of label ids (each shaped like a Gmail id).</summary>
    public static List<string> Labels(JsonElement a, string name)
    {
        var result = new List<string>();
        if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return result;
        if (v.ValueKind != JsonValueKind.Array) throw new CapabilityException(EmailErrors.Invalid(name, "must be an array of label ids"));
        foreach (var e in v.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.String || !GmailApiClient.IsValidId(e.GetString()))
                throw new CapabilityException(EmailErrors.Invalid(name, "each label must be a Gmail label id (letters, digits, _ and -)"));
            result.Add(e.GetString()!);
        }
        if (result.Count > 50) throw new CapabilityException(EmailErrors.Invalid(name, "at most 50 labels"));
        return result;
    }
}
