using System.Collections.Immutable;
using System.Reflection;
using System.Text.Json;
using KruxOS.Core.Errors;
using KruxOS.Core.Policy;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace KruxOS.Core.Capabilities;

/// <summary>
/// Reads capability definitions from YAML (spec §8.2 schema, one file per category) and checks them:
/// unique names, a purpose, at least one recovery action per error, valid types and tiers, side effects
/// with a description, common patterns with a description and at least one step.
/// </summary>
public static class DefinitionLoader
{
    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build();

    private static readonly Lazy<ImmutableArray<CapabilityDefinition>> BuiltInDefinitions = new(LoadBuiltIn);

    /// <summary>
    /// Every definition shipped inside this assembly (<c>Capabilities/Definitions/*.yaml</c>), parsed once per
    /// process: the definitions are immutable, and start-up and the CLI ask for them several times.
    /// </summary>
    public static ImmutableArray<CapabilityDefinition> BuiltIn() => BuiltInDefinitions.Value;

    private static ImmutableArray<CapabilityDefinition> LoadBuiltIn()
    {
        var asm = typeof(DefinitionLoader).Assembly;
        var result = ImmutableArray.CreateBuilder<CapabilityDefinition>();
        foreach (var resource in asm.GetManifestResourceNames().Where(n => n.StartsWith("definitions/", StringComparison.Ordinal)).Order())
        {
            using var stream = asm.GetManifestResourceStream(resource)!;
            using var reader = new StreamReader(stream);
            result.AddRange(Parse(reader.ReadToEnd(), resource));
        }
        return result.ToImmutable();
    }

    /// <summary>Parses one YAML document; <paramref name="source"/> names it in error messages.</summary>
    public static ImmutableArray<CapabilityDefinition> Parse(string yaml, string source)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        // Before the recursive deserializer: a file nested too deep would overflow the stack.
        if (Policy.YamlLimits.Definitions.Check(yaml) is { } tooBig)
            throw new FormatException($"{source}:{tooBig.Line}:{tooBig.Column}: {tooBig.Message}");
        DefinitionFile file;
        try { file = Yaml.Deserialize<DefinitionFile>(yaml) ?? new DefinitionFile(); }
        catch (YamlDotNet.Core.YamlException e) { throw new FormatException($"{source}: {e.Message}", e); }
        return [.. file.Capabilities.Select(c => Build(c, source))];
    }

    private static CapabilityDefinition Build(CapabilityDto c, string source)
    {
        string Where() => $"{source}: capability '{c.Name}'";
        if (!CapabilityName.TryParse(c.Name, out var name)) throw new FormatException($"{source}: '{c.Name}' is not a dotted capability name");
        if (string.IsNullOrWhiteSpace(c.Purpose)) throw new FormatException($"{Where()} has no purpose");
        if (!Tiers.TryParse(c.PermissionTier, out var tier)) throw new FormatException($"{Where()} has unknown tier '{c.PermissionTier}'");
        if (!Enum.TryParse<ExecutionMode>((c.Execution ?? "sandboxed").Replace("_", ""), ignoreCase: true, out var mode))
            throw new FormatException($"{Where()} has unknown execution '{c.Execution}'");

        var inputs = c.Inputs.Select(i =>
        {
            if (!Enum.TryParse<InputType>(i.Type, ignoreCase: true, out var type))
                throw new FormatException($"{Where()}: input '{i.Name}' has unknown type '{i.Type}'");
            if (i.NamesSecret && type != InputType.String)
                throw new FormatException($"{Where()}: input '{i.Name}' names a secret but is not a String");
            return new InputDefinition(i.Name, type, i.Required, i.Description ?? string.Empty,
                i.Default is null ? null : JsonSerializer.SerializeToElement(Normalize(i.Default, type)),
                i.Allowed is null ? default : [.. i.Allowed], i.Minimum, i.Maximum, i.MaxLength) { NamesSecret = i.NamesSecret };
        }).ToImmutableArray();
        if (inputs.Select(i => i.Name).Distinct().Count() != inputs.Length) throw new FormatException($"{Where()} declares an input twice");

        var errors = c.Errors.Select(e =>
        {
            if (e.Recovery.Count == 0) throw new FormatException($"{Where()}: error '{e.Type}' needs at least one recovery action");
            return new ErrorDefinition(e.Type, e.Description ?? string.Empty,
                [.. e.Recovery.Select(r => new RecoveryAction(r.Action, r.Description ?? string.Empty, r.Capability))]);
        }).ToImmutableArray();

        var sideEffects = c.SideEffects.Select(e => string.IsNullOrWhiteSpace(e.Description)
            ? throw new FormatException($"{Where()}: a side effect needs a description")
            : new SideEffectDefinition(e.Description.Trim(), e.Reversible)).ToImmutableArray();
        var patterns = c.CommonPatterns.Select(p =>
        {
            if (string.IsNullOrWhiteSpace(p.Description)) throw new FormatException($"{Where()}: a common pattern needs a description");
            if (p.Steps.Count == 0 || p.Steps.Any(string.IsNullOrWhiteSpace)) throw new FormatException($"{Where()}: common pattern '{p.Description}' needs steps");
            return new CommonPatternDefinition(p.Description.Trim(), [.. p.Steps.Select(step => step.Trim())]);
        }).ToImmutableArray();

        return new CapabilityDefinition(name, c.Version ?? "1.0", c.Purpose.Trim(), (c.WhenToUse ?? string.Empty).Trim(), inputs,
            [.. c.Outputs.Select(o => new OutputDefinition(o.Name, o.Type ?? "String", o.Description ?? string.Empty))],
            errors, tier, [.. c.Tags], mode)
        {
            SideEffects = sideEffects,
            CommonPatterns = patterns,
            WrittenPaths = WrittenPaths(c, inputs, Where),
            MaxDuration = MaxDuration(c, inputs, Where),
            Guards = [.. c.Guards.Select(g => CallGuards.ByName.TryGetValue(g, out var guard) ? guard : throw new FormatException($"{Where()} names an unknown guard '{g}'"))],
            Remote = Remote(c, mode, Where),
        };
    }

    // The path inputs the capability writes. A write- or destructive-tagged definition with path inputs must say which
    // (an empty list is a statement too): protections are never inferred silently for a definition that ships.
    private static ImmutableArray<string> WrittenPaths(CapabilityDto c, ImmutableArray<InputDefinition> inputs, Func<string> where)
    {
        if (c.WrittenPaths is null)
        {
            if ((c.Tags.Contains("write") || c.Tags.Contains("destructive")) && inputs.Any(i => i.Type == InputType.FilesystemPath))
                throw new FormatException($"{where()} is tagged write or destructive and has path inputs, so it must declare written_paths");
            return default;
        }
        foreach (var n in c.WrittenPaths)
            if (!inputs.Any(i => i.Name == n && i.Type == InputType.FilesystemPath))
                throw new FormatException($"{where()}: written_paths names '{n}', which is not a FilesystemPath input");
        return [.. c.WrittenPaths.Distinct(StringComparer.Ordinal)];
    }

    private static MaxDurationDefinition? MaxDuration(CapabilityDto c, ImmutableArray<InputDefinition> inputs, Func<string> where)
    {
        if (c.MaxDurationSeconds is not null && c.DurationInput is not null)
            throw new FormatException($"{where()} declares both max_duration_seconds and duration_input");
        if (c.MaxDurationSeconds is { } seconds)
        {
            if (!(seconds > 0) || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
                throw new FormatException($"{where()}: max_duration_seconds must be a positive number of seconds");
            return new MaxDurationDefinition(TimeSpan.FromSeconds(seconds), null);
        }
        if (c.DurationInput is not { } input) return null;
        var found = inputs.FirstOrDefault(i => i.Name == input)
            ?? throw new FormatException($"{where()}: duration_input names '{input}', which is not an input");
        if (found.Type is not (InputType.Integer or InputType.Float or InputType.Number) || found.Maximum is null)
            throw new FormatException($"{where()}: duration_input '{input}' must be a numeric input with a maximum");
        return new MaxDurationDefinition(null, input);
    }

    private static RemoteAccess Remote(CapabilityDto c, ExecutionMode mode, Func<string> where)
    {
        if (c.RemoteAccess is null) return RemoteAccess.None;
        if (!Enum.TryParse<RemoteAccess>(c.RemoteAccess, ignoreCase: true, out var remote) || !Enum.IsDefined(remote) || int.TryParse(c.RemoteAccess, out _))
            throw new FormatException($"{where()} has unknown remote_access '{c.RemoteAccess}'");
        if (remote != RemoteAccess.None && mode != ExecutionMode.Sandboxed)
            throw new FormatException($"{where()}: remote_access applies to sandboxed capabilities only");
        return remote;
    }

    // YAML scalars arrive as strings; give defaults their declared JSON type.
    private static object Normalize(object value, InputType type) => (type, value) switch
    {
        (InputType.Integer, string s) => long.Parse(s, System.Globalization.CultureInfo.InvariantCulture),
        (InputType.Float or InputType.Number, string s) => double.Parse(s, System.Globalization.CultureInfo.InvariantCulture),
        (InputType.Boolean, string s) => bool.Parse(s),
        _ => value,
    };

    private sealed class DefinitionFile { public List<CapabilityDto> Capabilities { get; set; } = []; }

    private sealed class CapabilityDto
    {
        public string Name { get; set; } = string.Empty;
        public string? Version { get; set; }
        public string Purpose { get; set; } = string.Empty;
        public string? WhenToUse { get; set; }
        public string? Execution { get; set; }
        public string PermissionTier { get; set; } = "autonomous";
        public List<string> Tags { get; set; } = [];
        public List<InputDto> Inputs { get; set; } = [];
        public List<OutputDto> Outputs { get; set; } = [];
        public List<ErrorDto> Errors { get; set; } = [];
        public List<SideEffectDto> SideEffects { get; set; } = [];
        public List<PatternDto> CommonPatterns { get; set; } = [];
        public List<string>? WrittenPaths { get; set; }
        public double? MaxDurationSeconds { get; set; }
        public string? DurationInput { get; set; }
        public List<string> Guards { get; set; } = [];
        public string? RemoteAccess { get; set; }
    }

    private sealed class SideEffectDto
    {
        public string? Description { get; set; }
        public bool Reversible { get; set; }
    }

    private sealed class PatternDto
    {
        public string? Description { get; set; }
        public List<string> Steps { get; set; } = [];
    }

    private sealed class InputDto
    {
        public string Name { get; set; } = string.Empty;
        public string Type { get; set; } = "String";
        public bool Required { get; set; }
        public string? Description { get; set; }
        public object? Default { get; set; }
        public List<string>? Allowed { get; set; }
        public double? Minimum { get; set; }
        public double? Maximum { get; set; }
        public long? MaxLength { get; set; }
        public bool NamesSecret { get; set; }
    }

    private sealed class OutputDto
    {
        public string Name { get; set; } = string.Empty;
        public string? Type { get; set; }
        public string? Description { get; set; }
    }

    private sealed class ErrorDto
    {
        public string Type { get; set; } = string.Empty;
        public string? Description { get; set; }
        public List<RecoveryDto> Recovery { get; set; } = [];
    }

    private sealed class RecoveryDto
    {
        public string Action { get; set; } = string.Empty;
        public string? Description { get; set; }
        public string? Capability { get; set; }
    }
}
