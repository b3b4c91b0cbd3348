using System.Collections.Frozen;
using System.Collections.Immutable;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Policy;

/// <summary>
/// The shipped org-level policy templates (spec §6.3): <c>personal-permissive</c>, <c>team-moderate</c> and
/// <c>enterprise-restrictive</c>. They are embedded YAML, compiled and example-checked like any policy file,
/// and can be copied into <c>org.yaml</c> or referenced with <c>extends: &lt;name&gt;</c>.
/// </summary>
public static class PolicyTemplates
{
    private const string ResourcePrefix = "policy-templates/";

    /// <summary>
    /// How the rules of a template are referenced: <c>template:&lt;name&gt;:&lt;line&gt;</c>, e.g.
    /// <c>template:team-moderate:23</c> for line 23 of the built-in template (not a file on disk). A file that
    /// <c>extends</c> a template decides with these references for the template's rules.
    /// </summary>
    public const string ReferencePrefix = "template:";

    /// <summary>The name of the template a rule reference points into, or null when it points elsewhere.</summary>
    public static string? TemplateOf(string reference)
    {
        ArgumentNullException.ThrowIfNull(reference);
        if (!reference.StartsWith(ReferencePrefix, StringComparison.Ordinal)) return null;
        var colon = reference.LastIndexOf(':');
        return colon > ReferencePrefix.Length ? reference[ReferencePrefix.Length..colon] : null;
    }

    private static readonly Lazy<FrozenDictionary<string, string>> Texts = new(LoadTexts);
    private static readonly Lazy<FrozenDictionary<string, CompiledPolicyFile>> Compiled = new(CompileAll);

    /// <summary>The template names, ordered from most to least permissive.</summary>
    public static ImmutableArray<string> Names { get; } = ["personal-permissive", "team-moderate", "enterprise-restrictive"];

    /// <summary>The YAML text of a template, or false when there is no such template.</summary>
    public static bool TryGet(string name, out string yaml) => Texts.Value.TryGetValue(name, out yaml!);

    /// <summary>The YAML text of a template; throws <see cref="KeyNotFoundException"/> for an unknown name.</summary>
    public static string Get(string name) =>
        TryGet(name, out var yaml) ? yaml : throw new KeyNotFoundException($"no policy template '{name}'; known: {string.Join(", ", Names)}");

    internal static bool TryGetCompiled(string name, out CompiledPolicyFile file) => Compiled.Value.TryGetValue(name, out file!);

    private static FrozenDictionary<string, string> LoadTexts()
    {
        var asm = typeof(PolicyTemplates).Assembly;
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var name in Names)
        {
            using var stream = asm.GetManifestResourceStream(ResourcePrefix + name + ".yaml")
                ?? throw new InvalidOperationException($"policy template '{name}' is not embedded");
            using var reader = new StreamReader(stream);
            result[name] = reader.ReadToEnd();
        }
        return result.ToFrozenDictionary(StringComparer.Ordinal);
    }

    // Shipped templates are part of the build: a template that does not compile is a bug, not a user error.
    private static FrozenDictionary<string, CompiledPolicyFile> CompileAll()
    {
        var index = new PolicyIndex(new CapabilityRegistry([]));
        var result = new Dictionary<string, CompiledPolicyFile>(StringComparer.Ordinal);
        foreach (var name in Names)
        {
            var diagnostics = new List<PolicyDiagnostic>();
            var file = PolicyCompiler.CompileFile(ReferencePrefix + name, Texts.Value[name], PolicyLayer.Org, null, index, diagnostics, allowExtends: false);
            result[name] = file ?? throw new InvalidOperationException(
                $"policy template '{name}' does not compile: {string.Join("; ", diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error))}");
        }
        return result.ToFrozenDictionary(StringComparer.Ordinal);
    }
}
