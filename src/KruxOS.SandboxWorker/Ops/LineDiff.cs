using System.Text;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>A small unified diff (LCS over the changed middle of two texts, 3 lines of context).</summary>
internal static class LineDiff
{
    private const int Context = 3;
    private const int MaxLcsCells = 4_000_000;

    public static string Unified(string path, string before, string after)
    {
        var a = before.Split('\n');
        var b = after.Split('\n');
        var prefix = 0;
        while (prefix < a.Length && prefix < b.Length && a[prefix] == b[prefix]) prefix++;
        var suffix = 0;
        while (suffix < a.Length - prefix && suffix < b.Length - prefix && a[^(suffix + 1)] == b[^(suffix + 1)]) suffix++;
        var midA = a[prefix..(a.Length - suffix)];
        var midB = b[prefix..(b.Length - suffix)];

        // ops: ' ' keep, '-' delete, '+' insert; over the whole files.
        var ops = new List<(char Op, int A, int B)>();
        for (var i = 0; i < prefix; i++) ops.Add((' ', i, i));
        if ((long)midA.Length * midB.Length <= MaxLcsCells) ops.AddRange(Lcs(midA, midB, prefix));
        else
        {
            for (var i = 0; i < midA.Length; i++) ops.Add(('-', prefix + i, -1));
            for (var j = 0; j < midB.Length; j++) ops.Add(('+', -1, prefix + j));
        }
        for (var i = 0; i < suffix; i++) ops.Add((' ', a.Length - suffix + i, b.Length - suffix + i));

        var sb = new StringBuilder();
        sb.Append("--- a").Append(path).Append('\n').Append("+++ b").Append(path).Append('\n');
        var k = 0;
        while (k < ops.Count)
        {
            if (ops[k].Op == ' ') { k++; continue; }
            var start = Math.Max(0, k - Context);
            var end = k;
            // extend while changes are within 2*Context of each other
            while (true)
            {
                while (end < ops.Count && ops[end].Op != ' ') end++;
                var next = end;
                while (next < ops.Count && ops[next].Op == ' ' && next - end < 2 * Context) next++;
                if (next < ops.Count && ops[next].Op != ' ') { end = next; continue; }
                end = Math.Min(ops.Count, end + Context);
                break;
            }
            var hunk = ops.GetRange(start, end - start);
            int aStart = hunk.FirstOrDefault(o => o.A >= 0).A, bStart = hunk.FirstOrDefault(o => o.B >= 0).B;
            int aLen = hunk.Count(o => o.Op != '+'), bLen = hunk.Count(o => o.Op != '-');
            sb.Append($"@@ -{aStart + 1},{aLen} +{bStart + 1},{bLen} @@\n");
            foreach (var (op, ia, ib) in hunk) sb.Append(op).Append(op == '+' ? b[ib] : a[ia]).Append('\n');
            k = end;
        }
        return sb.ToString();
    }

    private static IEnumerable<(char, int, int)> Lcs(string[] a, string[] b, int offset)
    {
        var n = a.Length; var m = b.Length;
        var t = new int[n + 1, m + 1];
        for (var i = n - 1; i >= 0; i--)
            for (var j = m - 1; j >= 0; j--)
                t[i, j] = a[i] == b[j] ? t[i + 1, j + 1] + 1 : Math.Max(t[i + 1, j], t[i, j + 1]);
        int x = 0, y = 0;
        while (x < n && y < m)
        {
            if (a[x] == b[y]) { yield return (' ', offset + x, offset + y); x++; y++; }
            else if (t[x + 1, y] >= t[x, y + 1]) { yield return ('-', offset + x, -1); x++; }
            else { yield return ('+', -1, offset + y); y++; }
        }
        for (; x < n; x++) yield return ('-', offset + x, -1);
        for (; y < m; y++) yield return ('+', -1, offset + y);
    }
}
