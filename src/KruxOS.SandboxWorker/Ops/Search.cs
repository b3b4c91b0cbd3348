using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using KruxOS.SandboxWorker.Native;
using KruxOS.SandboxWorker.Paths;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker.Ops;

/// <summary>filesystem.search (globs, aggregation, hashing) and filesystem.search_content (regex/literal, aggregates).</summary>
internal static class Search
{
    private const long ContentMaxFileBytes = 16 * 1024 * 1024;
    private const long HashCeiling = 256L * 1024 * 1024;

    /// <summary>Names whose content is never hashed or searched: secrets commonly kept in trees.</summary>
    internal static bool IsProtected(string name) =>
        name is ".env" or "id_rsa" or "id_ed25519" or "id_ecdsa" or ".netrc" or ".pgpass" or "credentials.json"
        || name.StartsWith(".env.", StringComparison.Ordinal)
        || name.EndsWith(".pem", StringComparison.Ordinal) || name.EndsWith(".key", StringComparison.Ordinal)
        || name.EndsWith(".p12", StringComparison.Ordinal) || name.EndsWith(".pfx", StringComparison.Ordinal);

    private static IEnumerable<(ResolvedPath Path, FileInfo Info, string Rel)> Files(PathResolver paths, ResolvedPath root, bool hidden)
    {
        foreach (var (entry, rel) in Walker.Walk(root.Real, hidden))
        {
            if (entry is not FileInfo f) continue;
            if (f.LinkTarget is not null)
            {
                // A symlinked descendant is re-validated: followed only when it stays in scope.
                ResolvedPath target;
                try { target = paths.Resolve(root.Virtual + "/" + rel); }
                catch (WorkerException) { continue; }
                if (!File.Exists(target.Real)) continue;
                yield return (new ResolvedPath(root.Virtual + "/" + rel, target.Real, target.Root, target.Relative), new FileInfo(target.Real), rel);
                continue;
            }
            yield return (new ResolvedPath(root.Virtual + "/" + rel, f.FullName, root.Root, root.Relative.Length == 0 ? rel : root.Relative + "/" + rel), f, rel);
        }
    }

    private static ResolvedPath Dir(PathResolver paths, JsonElement a)
    {
        var root = paths.Resolve(Args.Str(a, "path"));
        if (File.Exists(root.Real)) throw FsErrors.NotADirectory(root.Virtual);
        if (!Directory.Exists(root.Real)) throw FsErrors.DirectoryNotFound(root.Virtual);
        return root;
    }

    private static string HashFile(PathResolver paths, ResolvedPath p)
    {
        using var h = paths.Open(new ResolvedPath(p.Virtual, p.Real, p.Root, p.Real == p.Root.Real ? string.Empty : p.Real[(p.Root.Real.Length + 1)..]), Libc.O_RDONLY);
        using var fs = new FileStream(h, FileAccess.Read, 0);
        return Convert.ToHexStringLower(SHA256.HashData(fs));
    }

    public static JsonNode Files(PathResolver paths, JsonElement a)
    {
        var root = Dir(paths, a);
        var glob = Glob.Parse(Args.Str(a, "pattern"));
        var max = (int)Math.Clamp(Args.OptLong(a, "max_results") ?? 100, 1, 10_000);
        var includeHash = Args.Bool(a, "include_hash");
        var maxHash = Math.Clamp(Args.OptLong(a, "max_hash_bytes") ?? 10 * 1024 * 1024, 0, HashCeiling);
        var aggregate = Args.Opt(a, "aggregate");
        var all = Files(paths, root, Args.Bool(a, "include_hidden")).Where(f => glob.IsMatch(f.Rel)).ToList();

        var matches = new JsonArray();
        long largeSkipped = 0, protectedSkipped = 0;
        var hashes = new Dictionary<string, string>();
        string? Hash((ResolvedPath Path, FileInfo Info, string Rel) f)
        {
            if (hashes.TryGetValue(f.Path.Virtual, out var known)) return known;
            if (IsProtected(f.Info.Name)) { protectedSkipped++; return null; }
            if (f.Info.Length > maxHash) { largeSkipped++; return null; }
            try { return hashes[f.Path.Virtual] = HashFile(paths, f.Path); }
            catch (WorkerException) { return null; }
        }
        foreach (var f in all.Take(max))
        {
            var m = new JsonObject { ["path"] = f.Path.Virtual, ["size"] = f.Info.Length, ["modified"] = FileOps.Iso(f.Info.LastWriteTimeUtc) };
            if (includeHash) m["sha256"] = Hash(f);
            matches.Add(m);
        }
        var result = new JsonObject { ["matches"] = matches, ["total_matches"] = all.Count, ["truncated"] = all.Count > max };

        if (aggregate is { ValueKind: JsonValueKind.Object } agg)
        {
            var groupBy = Args.OptStr(agg, "group_by") ?? "none";
            var maxGroups = (int)Math.Clamp(Args.OptLong(agg, "max_groups") ?? 20, 1, 1000);
            var sortBy = Args.OptStr(agg, "sort_by") ?? "-total_size";
            var now = DateTime.UtcNow;
            Func<(ResolvedPath Path, FileInfo Info, string Rel), string> key = groupBy switch
            {
                "extension" => f => f.Info.Extension.Length == 0 ? "<none>" : f.Info.Extension.ToLowerInvariant(),
                "dir" => f => f.Rel.Contains('/') ? f.Rel[..f.Rel.LastIndexOf('/')] : ".",
                "mtime-bucket" => f => (now - f.Info.LastWriteTimeUtc).TotalDays switch
                {
                    < 1 => "today", < 7 => "last_7_days", < 30 => "last_30_days", < 365 => "last_year", _ => "older",
                },
                "none" => _ => "all",
                _ => throw FsErrors.InvalidInput("aggregate.group_by", "must be extension, dir, mtime-bucket or none"),
            };
            var groups = all.GroupBy(key).Select(g => (Key: g.Key, Count: g.Count(), Size: g.Sum(f => f.Info.Length))).ToList();
            var desc = sortBy.StartsWith('-');
            groups = (sortBy.TrimStart('-') switch
            {
                "count" => desc ? groups.OrderByDescending(g => g.Count) : groups.OrderBy(g => g.Count),
                "key" => desc ? groups.OrderByDescending(g => g.Key, StringComparer.Ordinal) : groups.OrderBy(g => g.Key, StringComparer.Ordinal),
                "total_size" => desc ? groups.OrderByDescending(g => g.Size) : groups.OrderBy(g => g.Size),
                _ => throw FsErrors.InvalidInput("aggregate.sort_by", "must be count, total_size or key, optionally prefixed with '-'"),
            }).ThenBy(g => g.Key, StringComparer.Ordinal).ToList();
            var rows = new JsonArray();
            foreach (var g in groups.Take(maxGroups)) rows.Add(new JsonObject { ["key"] = g.Key, ["count"] = g.Count, ["total_size"] = g.Size });
            if (groups.Count > maxGroups)
            {
                var rest = groups.Skip(maxGroups).ToList();
                rows.Add(new JsonObject { ["key"] = "<other>", ["count"] = rest.Sum(g => g.Count), ["total_size"] = rest.Sum(g => g.Size) });
            }
            result["groups"] = rows;
            result["groups_truncated"] = groups.Count > maxGroups;

            if (Args.Bool(agg, "dedupe"))
            {
                var dupes = new JsonArray();
                // Only files sharing a size can be duplicates: hash just those.
                var candidates = all.Where(f => f.Info.Length > 0).GroupBy(f => f.Info.Length).Where(g => g.Count() > 1);
                var sets = new List<(string Hash, long Size, List<string> Paths)>();
                foreach (var bySize in candidates)
                    foreach (var byHash in bySize.Select(f => (F: f, H: Hash(f))).Where(x => x.H is not null).GroupBy(x => x.H!).Where(g => g.Count() > 1))
                        sets.Add((byHash.Key, bySize.Key, byHash.Select(x => x.F.Path.Virtual).Order(StringComparer.Ordinal).ToList()));
                foreach (var s in sets.OrderByDescending(s => s.Size * (s.Paths.Count - 1)).Take(maxGroups))
                    dupes.Add(new JsonObject
                    {
                        ["sha256"] = s.Hash, ["size"] = s.Size, ["count"] = s.Paths.Count,
                        ["reclaimable_bytes"] = s.Size * (s.Paths.Count - 1),
                        ["paths"] = new JsonArray([.. s.Paths.Select(p => (JsonNode)p!)]),
                    });
                result["duplicates"] = dupes;
            }
        }
        if (includeHash || result.ContainsKey("duplicates"))
        {
            result["large_files_skipped"] = largeSkipped;
            result["protected_files_skipped"] = protectedSkipped;
        }
        return result;
    }

    public static JsonNode Content(PathResolver paths, JsonElement a)
    {
        var root = paths.Resolve(Args.Str(a, "path"));
        var pattern = Args.Str(a, "pattern");
        if (pattern.Length == 0) throw FsErrors.InvalidInput("pattern", "must not be empty");
        var isRegex = Args.Bool(a, "regex");
        var options = RegexOptions.CultureInvariant | (Args.Bool(a, "case_sensitive", true) ? RegexOptions.None : RegexOptions.IgnoreCase);
        Regex regex;
        try { regex = new Regex(isRegex ? pattern : Regex.Escape(pattern), options, TimeSpan.FromSeconds(2)); }
        catch (ArgumentException e) { throw FsErrors.InvalidPattern(pattern, e.Message); }
        var totalOnly = Args.Bool(a, "total_only");
        var countBy = Args.OptStr(a, "count_by");
        var filesOnly = Args.Bool(a, "files_only");
        if (countBy is not null && !isRegex) throw FsErrors.InvalidInput("count_by", "needs regex=true");
        int? groupIndex = null;
        if (countBy is not null)
        {
            if (int.TryParse(countBy, out var idx)) { if (idx < 1 || idx >= regex.GetGroupNumbers().Length) throw FsErrors.InvalidInput("count_by", $"the pattern has {regex.GetGroupNumbers().Length - 1} group(s)"); groupIndex = idx; }
            else if (regex.GroupNumberFromName(countBy) < 0) throw FsErrors.InvalidInput("count_by", $"the pattern has no group named '{countBy}'");
        }
        var max = (int)Math.Clamp(Args.OptLong(a, "max_results") ?? 100, 1, 10_000);
        var contextLines = (int)Math.Clamp(Args.OptLong(a, "context_lines") ?? 2, 0, 20);
        var includeGlob = Args.OptStr(a, "include_glob") is { } ig ? Glob.Parse(ig) : null;

        IEnumerable<(ResolvedPath Path, FileInfo Info, string Rel)> files;
        if (File.Exists(root.Real)) files = [(root, new FileInfo(root.Real), Path.GetFileName(root.Real))];
        else if (Directory.Exists(root.Real)) files = Files(paths, root, Args.Bool(a, "include_hidden")).Where(f => includeGlob is null || includeGlob.IsMatch(f.Rel));
        else throw FsErrors.NotFound(root.Virtual);

        long total = 0;
        var histogram = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var perFile = new List<(string Path, long Count)>();
        var matches = new JsonArray();
        var seen = new Dictionary<string, JsonObject>(StringComparer.Ordinal);
        long totalLines = 0, filesSearched = 0, skippedBinary = 0;
        var truncated = false;
        foreach (var f in files)
        {
            if (f.Info.Length > ContentMaxFileBytes || Search.IsProtected(f.Info.Name)) continue;
            byte[] raw;
            try
            {
                using var h = paths.Open(new ResolvedPath(f.Path.Virtual, f.Path.Real, f.Path.Root, f.Path.Real == f.Path.Root.Real ? string.Empty : f.Path.Real[(f.Path.Root.Real.Length + 1)..]), Libc.O_RDONLY);
                raw = new byte[RandomAccess.GetLength(h)];
                RandomAccess.Read(h, raw, 0);
            }
            catch (WorkerException) { continue; }
            if (Array.IndexOf(raw, (byte)0, 0, Math.Min(raw.Length, 8192)) >= 0) { skippedBinary++; continue; }
            filesSearched++;
            var lines = Encoding.UTF8.GetString(raw).Split('\n');
            long fileCount = 0;
            try
            {
                for (var i = 0; i < lines.Length; i++)
                {
                    var line = lines[i].TrimEnd('\r');
                    var ms = regex.Matches(line);
                    if (ms.Count == 0) continue;
                    totalLines++;
                    fileCount += ms.Count;
                    if (countBy is not null)
                        foreach (Match m in ms)
                        {
                            var g = groupIndex is { } gi ? m.Groups[gi] : m.Groups[countBy];
                            if (g.Success) histogram[g.Value] = histogram.GetValueOrDefault(g.Value) + 1;
                        }
                    if (totalOnly || countBy is not null || filesOnly) continue;
                    var text = line.Trim();
                    if (seen.TryGetValue(text, out var first)) { first["duplicates"] = (long)first["duplicates"]! + 1; continue; }
                    if (matches.Count >= max) { truncated = true; continue; }
                    var from = Math.Max(0, i - contextLines);
                    var to = Math.Min(lines.Length - 1, i + contextLines);
                    var entry = new JsonObject
                    {
                        ["path"] = f.Path.Virtual, ["line"] = i + 1, ["text"] = line,
                        ["enclosing_snippet"] = string.Join('\n', lines[from..(to + 1)].Select(l => l.TrimEnd('\r'))),
                        ["snippet_start_line"] = from + 1, ["duplicates"] = 0L,
                    };
                    seen[text] = entry;
                    matches.Add(entry);
                }
            }
            catch (RegexMatchTimeoutException) { throw FsErrors.InvalidPattern(pattern, "matching took too long"); }
            total += fileCount;
            if (fileCount > 0) perFile.Add((f.Path.Virtual, fileCount));
        }

        // Precedence: total_only > count_by > files_only > matches. Aggregates count occurrences; matches count lines.
        if (totalOnly) return new JsonObject { ["mode"] = "total", ["total"] = total, ["files_searched"] = filesSearched };
        if (countBy is not null)
        {
            var counts = new JsonObject();
            foreach (var kv in histogram.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)) counts[kv.Key] = kv.Value;
            return new JsonObject { ["mode"] = "count_by", ["counts"] = counts, ["total"] = histogram.Values.Sum(), ["files_searched"] = filesSearched };
        }
        if (filesOnly)
        {
            var arr = new JsonArray();
            foreach (var (p, c) in perFile.OrderByDescending(x => x.Count).ThenBy(x => x.Path, StringComparer.Ordinal).Take(max))
                arr.Add(new JsonObject { ["path"] = p, ["match_count"] = c });
            return new JsonObject { ["mode"] = "files", ["files"] = arr, ["total_files"] = perFile.Count, ["truncated"] = perFile.Count > max };
        }
        return new JsonObject
        {
            ["mode"] = "matches", ["matches"] = matches, ["total_matches"] = totalLines, ["files_searched"] = filesSearched,
            ["binary_files_skipped"] = skippedBinary, ["truncated"] = truncated,
        };
    }
}
