using System.Text;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;

namespace KruxOS.Core.Policy;

/// <summary>Where a YAML text breaks a limit, and which one.</summary>
/// <param name="Line">1-based line of the node that broke it (1 for the size limit).</param>
/// <param name="Column">1-based column.</param>
/// <param name="Message">What was exceeded, with the limit.</param>
public sealed record YamlLimitViolation(int Line, int Column, string Message);

/// <summary>
/// Size, nesting and node-count limits for YAML read from files (policies, capability definitions). YamlDotNet builds
/// its node tree recursively, and the compilers walk it recursively: a file nested 200,000 levels deep (a flow sequence
/// of brackets takes 400 KB) overflows the stack and kills the process — at every start, since the file is still there.
/// Aliases let a small file stand for an exponentially large tree ("billion laughs"), which the compilers would expand.
/// <see cref="Check"/> reads the file as a stream of parser events first (the parser keeps its own stack, so this
/// recursion-free pass stops cheaply at the first level too deep) and reports the first limit broken, with its place.
/// </summary>
/// <param name="MaxBytes">Largest accepted file, in UTF-8 bytes.</param>
/// <param name="MaxDepth">Deepest accepted nesting of mappings and sequences.</param>
/// <param name="MaxNodes">Most nodes the document may stand for, aliases expanded.</param>
public sealed record YamlLimits(int MaxBytes, int MaxDepth, long MaxNodes)
{
    /// <summary>Policy files: 1 MiB, 64 levels, 200,000 nodes (the shipped templates have under 2,000).</summary>
    public static readonly YamlLimits Policy = new(1024 * 1024, 64, 200_000);

    /// <summary>Capability definition files: 4 MiB, 64 levels, 1,000,000 nodes.</summary>
    public static readonly YamlLimits Definitions = new(4 * 1024 * 1024, 64, 1_000_000);

    /// <summary>
    /// The first limit <paramref name="yaml"/> breaks, or null. A syntax error found on the way ends the check without a
    /// violation: the real parse reports it, with its place, and everything before it is within the limits.
    /// </summary>
    public YamlLimitViolation? Check(string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        // A char is at most 3 UTF-8 bytes (a surrogate pair, 4 bytes for 2 chars): count only when it could matter.
        if ((long)yaml.Length * 3 > MaxBytes && Encoding.UTF8.GetByteCount(yaml) is var bytes && bytes > MaxBytes)
            return new YamlLimitViolation(1, 1, $"the file is {bytes:N0} bytes; at most {MaxBytes:N0} are accepted");

        var parser = new Parser(new StringReader(yaml));
        // One frame per open mapping or sequence: its anchor and the nodes it stands for so far.
        var frames = new Stack<(string? Anchor, long Nodes)>();
        var anchors = new Dictionary<string, long>(StringComparer.Ordinal);
        long total = 0;
        try
        {
            while (parser.MoveNext())
            {
                var e = parser.Current!;
                long added;
                switch (e)
                {
                    case MappingStart or SequenceStart:
                        if (frames.Count >= MaxDepth)
                            return At(e, $"nested deeper than {MaxDepth} levels of mappings and sequences");
                        frames.Push((((NodeEvent)e).Anchor.IsEmpty ? null : ((NodeEvent)e).Anchor.Value, 1));
                        continue;
                    case MappingEnd or SequenceEnd:
                        var done = frames.Pop();
                        if (done.Anchor is { } a) anchors[a] = done.Nodes;
                        added = done.Nodes;
                        break;
                    case Scalar s:
                        if (!s.Anchor.IsEmpty) anchors[s.Anchor.Value] = 1;
                        added = 1;
                        break;
                    case AnchorAlias alias:
                        added = anchors.GetValueOrDefault(alias.Value.Value, 1);
                        break;
                    default:
                        continue;
                }
                if (frames.Count > 0)
                {
                    var top = frames.Pop();
                    frames.Push((top.Anchor, Math.Min(top.Nodes + added, long.MaxValue / 2)));
                    if (top.Nodes + added > MaxNodes) return Nodes(e);
                }
                else
                {
                    total += added;
                    if (total > MaxNodes) return Nodes(e);
                }
            }
        }
        catch (YamlException)
        {
            return null;
        }
        return null;
    }

    private YamlLimitViolation Nodes(ParsingEvent e) =>
        At(e, $"the document stands for more than {MaxNodes:N0} nodes (aliases counted as often as they are used)");

    private static YamlLimitViolation At(ParsingEvent e, string message) => new((int)e.Start.Line, (int)e.Start.Column, message);
}
