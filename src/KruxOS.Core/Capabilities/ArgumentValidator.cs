using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;

namespace KruxOS.Core.Capabilities;

/// <summary>
/// Validates a call's arguments against its definition at the boundary (spec §8.2) and produces the
/// normalized argument object (declared order, defaults filled in). Unknown fields are refused, so a
/// misspelt option never silently falls back to a default. Every string and property name must be well-formed
/// text (<see cref="ArgumentText"/>): a lone surrogate or invalid UTF-8 is <c>InvalidInput</c> naming the field.
/// </summary>
public static partial class ArgumentValidator
{
    /// <summary>Longest string accepted for any single argument unless the input declares its own cap.</summary>
    public const int DefaultMaxStringLength = 16 * 1024 * 1024;

    private static readonly FrozenSignals Signals = new();

    /// <summary>Validates; on success <paramref name="normalized"/> is a standalone JSON object.</summary>
    public static bool TryValidate(CapabilityDefinition definition, JsonElement? arguments,
        out JsonElement normalized, out StructuredError? error)
    {
        normalized = default;
        var args = arguments ?? CoreJson.EmptyObject;
        if (args.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) args = CoreJson.EmptyObject;
        if (args.ValueKind != JsonValueKind.Object)
        {
            error = Errors.Errors.InvalidInput("arguments", "arguments must be a JSON object");
            return false;
        }
        // Before anything decodes a string or a name: malformed text would throw wherever it is decoded.
        if (ArgumentText.Find(args) is { } malformed)
        {
            error = Errors.Errors.InvalidInput(malformed.Field, malformed.Reason);
            return false;
        }

        foreach (var property in args.EnumerateObject())
        {
            if (!definition.Inputs.Any(i => i.Name == property.Name))
            {
                error = Errors.Errors.InvalidInput(property.Name,
                    $"unknown field; '{definition.Name}' accepts: {(definition.Inputs.Length == 0 ? "no arguments" : string.Join(", ", definition.Inputs.Select(i => i.Name)))}");
                return false;
            }
        }

        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var input in definition.Inputs)
            {
                if (!args.TryGetProperty(input.Name, out var value) || value.ValueKind == JsonValueKind.Null)
                {
                    if (input.Required)
                    {
                        error = Errors.Errors.InvalidInput(input.Name, "required field is missing");
                        return false;
                    }
                    if (input.Default is { } d)
                    {
                        writer.WritePropertyName(input.Name);
                        d.WriteTo(writer);
                    }
                    continue;
                }
                var reason = Check(input, value);
                if (reason is not null)
                {
                    error = Errors.Errors.InvalidInput(input.Name, reason);
                    return false;
                }
                writer.WritePropertyName(input.Name);
                value.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        normalized = doc.RootElement.Clone();
        error = null;
        return true;
    }

    /// <summary>Returns null when the value fits the input, otherwise the reason.</summary>
    internal static string? Check(InputDefinition input, JsonElement value)
    {
        var typeReason = input.Type switch
        {
            InputType.Integer => value.ValueKind == JsonValueKind.Number && value.TryGetInt64(out _) ? null : "must be an integer",
            InputType.Float or InputType.Number => value.ValueKind == JsonValueKind.Number ? null : "must be a number",
            InputType.Boolean => value.ValueKind is JsonValueKind.True or JsonValueKind.False ? null : "must be true or false",
            InputType.Object => value.ValueKind == JsonValueKind.Object ? null : "must be an object",
            InputType.Array => value.ValueKind == JsonValueKind.Array ? null : "must be an array",
            InputType.Json => null,
            _ => value.ValueKind == JsonValueKind.String ? CheckString(input, value.GetString()!) : "must be a string",
        };
        if (typeReason is not null) return typeReason;

        if (!input.Allowed.IsDefaultOrEmpty)
        {
            var text = value.ValueKind == JsonValueKind.String ? value.GetString() : value.GetRawText();
            if (!input.Allowed.Contains(text!, StringComparer.Ordinal))
                return $"must be one of: {string.Join(", ", input.Allowed)}";
        }
        if (value.ValueKind == JsonValueKind.Number)
        {
            var n = value.GetDouble();
            if (input.Minimum is { } min && n < min) return $"must be at least {min.ToString(CultureInfo.InvariantCulture)}";
            if (input.Maximum is { } max && n > max) return $"must be at most {max.ToString(CultureInfo.InvariantCulture)}";
        }
        return null;
    }

    private static string? CheckString(InputDefinition input, string s)
    {
        var cap = input.MaxLength ?? DefaultMaxStringLength;
        if (s.Length > cap) return $"is longer than {cap} characters";
        if (input.Type != InputType.String && s.Contains('\0')) return "must not contain NUL characters";
        return input.Type switch
        {
            InputType.DateTime => DateTimeOffset.TryParse(s, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out _)
                ? null : "must be an ISO 8601 date-time",
            InputType.FilesystemPath => s.Length is > 0 and <= 4096 ? null : "must be a path of 1-4096 characters",
            InputType.Url => Uri.TryCreate(s, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttp || u.Scheme == Uri.UriSchemeHttps)
                ? null : "must be an absolute http or https URL",
            InputType.Sha256 => Sha256Shape().IsMatch(s) ? null : "must be 64 hexadecimal characters",
            InputType.GlobPattern => s.Length is > 0 and <= 1024 ? null : "must be a glob of 1-1024 characters",
            InputType.CronExpression => s.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length is 5 or 6
                ? null : "must be a cron expression of 5 or 6 fields",
            InputType.AgentId => AgentName.TryParse(s, out _, out var why) ? null : why,
            InputType.SessionId => s.Length is > 0 and <= 128 ? null : "must be a session id",
            InputType.Signal => Signals.Contains(s) ? null : "must be a signal name such as SIGTERM or SIGKILL",
            _ => null,
        };
    }

    [GeneratedRegex("^[0-9a-fA-F]{64}$", RegexOptions.CultureInvariant)]
    private static partial Regex Sha256Shape();

    private sealed class FrozenSignals
    {
        private readonly HashSet<string> _names = new(StringComparer.OrdinalIgnoreCase)
        { "SIGTERM", "SIGKILL", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGSTOP", "SIGCONT",
          "TERM", "KILL", "INT", "HUP", "QUIT", "USR1", "USR2", "STOP", "CONT" };
        public bool Contains(string s) => _names.Contains(s);
    }
}
