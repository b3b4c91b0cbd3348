namespace KruxOS.Core.Dashboard;

/// <summary>One line of a diff: <c>' '</c> kept, <c>'-'</c> removed, <c>'+'</c> added, <c>'@'</c> a hunk header.</summary>
public readonly record struct DiffLine(char Kind, string Text);

/// <summary>A line diff with its size.</summary>
/// <param name="Lines">Hunks with up to <c>context</c> kept lines around each change.</param>
/// <param name="Added">Lines added.</param>
/// <param name="Removed">Lines removed.</param>
/// <param name="Truncated">The change was too large to align line by line (or to show whole): shown as a replacement, cut at the limit.</param>
public sealed record TextDiffResult(IReadOnlyList<DiffLine> Lines, int Added, int Removed, bool Truncated);

/// <summary>
/// A unified line diff of two texts, pure and bounded: the common head and tail are skipped, the middle is aligned by a
/// longest common subsequence while it is small enough (<see cref="MaxAlignedCells"/>), and otherwise shown as removed
/// then added. The output never exceeds <c>maxLines</c> lines.
/// </summary>
public static class TextDiff
{
    /// <summary>The largest middle (old lines × new lines) aligned line by line.</summary>
    public const long MaxAlignedCells = 4_000_000;

    /// <summary>Diffs <paramref name="before"/> against <paramref name="after"/>.</summary>
    public static TextDiffResult Unified(string before, string after, int context = 3, int maxLines = 2000)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(after);
        var a = SplitLines(before);
        var b = SplitLines(after);
        var head = 0;
        while (head < a.Length && head < b.Length && a[head] == b[head]) head++;
        var tail = 0;
        while (tail < a.Length - head && tail < b.Length - head && a[a.Length - 1 - tail] == b[b.Length - 1 - tail]) tail++;
        var midA = a.Length - head - tail;
        var midB = b.Length - head - tail;

        // The edit script over the whole texts: (kind, index into a or b).
        var script = new List<(char Kind, int A, int B)>(a.Length + b.Length);
        for (var i = 0; i < head; i++) script.Add((' ', i, i));
        var aligned = (long)midA * midB <= MaxAlignedCells;
        if (aligned) Align(a, b, head, midA, midB, script);
        else
        {
            for (var i = 0; i < midA; i++) script.Add(('-', head + i, -1));
            for (var j = 0; j < midB; j++) script.Add(('+', -1, head + j));
        }
        for (var t = 0; t < tail; t++) script.Add((' ', a.Length - tail + t, b.Length - tail + t));

        var lines = new List<DiffLine>();
        int added = 0, removed = 0;
        var truncated = !aligned;
        var index = 0;
        while (index < script.Count)
        {
            var change = script.FindIndex(index, s => s.Kind != ' ');
            if (change < 0) break;
            var start = Math.Max(index, change - context);
            // The hunk runs while changes are within 2*context kept lines of each other.
            var end = change;
            var keptRun = 0;
            for (var k = change; k < script.Count; k++)
            {
                if (script[k].Kind == ' ') { if (++keptRun > 2 * context) break; }
                else { keptRun = 0; end = k; }
            }
            var stop = Math.Min(script.Count, end + context + 1);
            var (aStart, bStart) = Position(script, start);
            var aCount = 0;
            var bCount = 0;
            for (var k = start; k < stop; k++)
            {
                if (script[k].Kind != '+') aCount++;
                if (script[k].Kind != '-') bCount++;
            }
            if (lines.Count >= maxLines) { truncated = true; break; }
            lines.Add(new DiffLine('@', $"@@ -{aStart + 1},{aCount} +{bStart + 1},{bCount} @@"));
            for (var k = start; k < stop; k++)
            {
                var (kind, ai, bi) = script[k];
                if (kind == '+') added++;
                if (kind == '-') removed++;
                if (lines.Count >= maxLines) { truncated = true; continue; }
                lines.Add(new DiffLine(kind, kind == '+' ? b[bi] : a[ai]));
            }
            index = stop;
        }
        return new TextDiffResult(lines, added, removed, truncated);
    }

    private static (int A, int B) Position(List<(char Kind, int A, int B)> script, int at)
    {
        int aPos = 0, bPos = 0;
        for (var k = 0; k < at; k++)
        {
            if (script[k].Kind != '+') aPos++;
            if (script[k].Kind != '-') bPos++;
        }
        return (aPos, bPos);
    }

    private static void Align(string[] a, string[] b, int offset, int n, int m, List<(char, int, int)> script)
    {
        // lengths[i, j] = LCS of a[offset+i..] and b[offset+j..]
        var lengths = new int[n + 1, m + 1];
        for (var i = n - 1; i >= 0; i--)
            for (var j = m - 1; j >= 0; j--)
                lengths[i, j] = a[offset + i] == b[offset + j] ? lengths[i + 1, j + 1] + 1 : Math.Max(lengths[i + 1, j], lengths[i, j + 1]);
        int x = 0, y = 0;
        while (x < n && y < m)
        {
            if (a[offset + x] == b[offset + y]) { script.Add((' ', offset + x, offset + y)); x++; y++; }
            else if (lengths[x + 1, y] >= lengths[x, y + 1]) { script.Add(('-', offset + x, -1)); x++; }
            else { script.Add(('+', -1, offset + y)); y++; }
        }
        for (; x < n; x++) script.Add(('-', offset + x, -1));
        for (; y < m; y++) script.Add(('+', -1, offset + y));
    }

    private static string[] SplitLines(string text)
    {
        if (text.Length == 0) return [];
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        // A final newline ends the last line rather than starting an empty one.
        return text.EndsWith('\n') ? lines[..^1] : lines;
    }
}
