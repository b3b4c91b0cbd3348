using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using KruxOS.Core.Agents;
using KruxOS.Sandbox.Trash;
using Xunit;

namespace KruxOS.Sandbox.Tests;

[Collection(SandboxCollection.Name)]
public sealed class FilesystemTests(SandboxFixture f)
{
    private const string A = "fs-agent";

    private static string Hex(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    [Fact]
    public async Task Should_write_atomically_and_read_back_with_checksum()
    {
        var w = await f.Ok(A, "filesystem.write", new { path = "docs/a.txt", content = "hello\nworld\n", create_parents = true });
        Assert.Equal("/workspace/docs/a.txt", w.GetProperty("path").GetString());
        Assert.Equal(Hex(Encoding.UTF8.GetBytes("hello\nworld\n")), w.GetProperty("checksum").GetString());
        var r = await f.Ok(A, "filesystem.read", new { path = "/workspace/docs/a.txt" });
        Assert.Equal("hello\nworld\n", r.GetProperty("content").GetString());
        Assert.Equal(12, r.GetProperty("size").GetInt64());
        Assert.False(r.GetProperty("truncated").GetBoolean());
        // Owned by the agent's unprivileged host uid, not root.
        var host = Path.Combine(f.Workspace(A), "docs", "a.txt");
        Assert.Equal(f.Host.HostUidFor(AgentName.Parse(A)), OwnerUid(host));
        Assert.NotEqual(0u, OwnerUid(host));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(host)!, "*.tmp"));
    }

    [Fact]
    public async Task Should_read_ranges_binary_and_cap_at_one_mebibyte()
    {
        var bytes = Enumerable.Range(0, 2 * 1024 * 1024 + 10).Select(i => (byte)(i % 251)).ToArray();
        await f.Ok(A, "filesystem.write", new { path = "big.bin", content = Convert.ToBase64String(bytes), encoding = "binary" });
        var r = await f.Ok(A, "filesystem.read", new { path = "big.bin", encoding = "binary" });
        Assert.Equal(1024 * 1024, Convert.FromBase64String(r.GetProperty("content").GetString()!).Length);
        Assert.True(r.GetProperty("truncated").GetBoolean());
        Assert.Equal(bytes.Length, r.GetProperty("size").GetInt64());
        Assert.Equal(Hex(bytes), r.GetProperty("checksum").GetString());
        var part = await f.Ok(A, "filesystem.read", new { path = "big.bin", encoding = "binary", offset = 100, limit = 5 });
        Assert.Equal(bytes[100..105], Convert.FromBase64String(part.GetProperty("content").GetString()!));
        await f.Fails(A, "filesystem.read", new { path = "big.bin" }, "EncodingError");
        await f.Fails(A, "filesystem.read", new { path = "nope.txt" }, "FileNotFound");
    }

    [Fact]
    public async Task Should_append_creating_the_file()
    {
        await f.Ok(A, "filesystem.append", new { path = "log/app.log", content = "one\n", create_parents = true });
        var r = await f.Ok(A, "filesystem.append", new { path = "log/app.log", content = "two\n" });
        Assert.Equal(8, r.GetProperty("new_size").GetInt64());
        Assert.Equal("one\ntwo\n", (await f.Ok(A, "filesystem.read", new { path = "log/app.log" })).GetProperty("content").GetString());
        await f.Fails(A, "filesystem.append", new { path = "missing-dir/x.log", content = "x" }, "ParentNotFound");
        await f.Fails(A, "filesystem.write", new { path = "missing-dir/x.txt", content = "x" }, "ParentNotFound");
    }

    [Fact]
    public async Task Should_edit_with_count_check_dry_run_and_regex()
    {
        await f.Ok(A, "filesystem.write", new { path = "edit/cfg.txt", content = "port=80\nhost=a\nport=81\n", create_parents = true });
        // Default expects exactly one match: two matches fail closed and nothing is written.
        var mismatch = await f.Fails(A, "filesystem.edit", new { path = "edit/cfg.txt", pattern = "port=", replace = "p=" }, "ReplacementCountMismatch");
        Assert.Equal(2, mismatch.Error!.Context["actual"].GetInt32());
        Assert.Equal("port=80\nhost=a\nport=81\n", File.ReadAllText(Path.Combine(f.Workspace(A), "edit/cfg.txt")));
        var preview = await f.Ok(A, "filesystem.edit", new { path = "edit/cfg.txt", pattern = @"port=(\d+)", replace = "port=9$1", regex = true, replace_all = true, dry_run = true });
        Assert.Equal("preview", preview.GetProperty("applied").GetString());
        Assert.Contains("-port=80", preview.GetProperty("diff").GetString());
        Assert.Contains("+port=980", preview.GetProperty("diff").GetString());
        Assert.Equal("port=80\nhost=a\nport=81\n", File.ReadAllText(Path.Combine(f.Workspace(A), "edit/cfg.txt")));
        var applied = await f.Ok(A, "filesystem.edit", new { path = "edit/cfg.txt", pattern = @"port=(\d+)", replace = "port=9$1", regex = true, expected_replacements = 2 });
        Assert.Equal("full", applied.GetProperty("applied").GetString());
        Assert.Equal(2, applied.GetProperty("total_replacements").GetInt32());
        Assert.Equal("port=980\nhost=a\nport=981\n", File.ReadAllText(Path.Combine(f.Workspace(A), "edit/cfg.txt")));
        await f.Ok(A, "filesystem.edit", new { path = "edit/cfg.txt", pattern = "host=a", replace = "host=b" });
        await f.Fails(A, "filesystem.edit", new { path = "edit/cfg.txt", pattern = "(", replace = "x", regex = true }, "InvalidPattern");
        // Multi-file edit through include_glob.
        await f.Ok(A, "filesystem.write", new { path = "edit/src/one.cs", content = "var OldName = 1;\n", create_parents = true });
        await f.Ok(A, "filesystem.write", new { path = "edit/src/two.cs", content = "OldName++;\nOldName--;\n" });
        var multi = await f.Ok(A, "filesystem.edit", new { path = "edit", include_glob = "**/*.cs", pattern = "OldName", replace = "NewName", replace_all = true });
        Assert.Equal(3, multi.GetProperty("total_replacements").GetInt32());
        Assert.Equal(2, multi.GetProperty("files_changed").GetInt32());
    }

    [Fact]
    public async Task Should_list_stat_copy_and_move()
    {
        await f.Ok(A, "filesystem.write", new { path = "lst/b.txt", content = "bb", create_parents = true });
        await f.Ok(A, "filesystem.write", new { path = "lst/a.txt", content = "a" });
        await f.Ok(A, "filesystem.write", new { path = "lst/.hidden", content = "h" });
        var list = await f.Ok(A, "filesystem.list", new { path = "lst", sort_by = "-size" });
        Assert.Equal(2, list.GetProperty("total").GetInt32());
        Assert.Equal("b.txt", list.GetProperty("entries")[0].GetProperty("name").GetString());
        Assert.Equal(3, (await f.Ok(A, "filesystem.list", new { path = "lst", include_hidden = true })).GetProperty("total").GetInt32());
        await f.Fails(A, "filesystem.list", new { path = "lst/a.txt" }, "NotADirectory");
        await f.Fails(A, "filesystem.list", new { path = "nodir" }, "DirectoryNotFound");

        var stat = await f.Ok(A, "filesystem.stat", new { path = "lst/b.txt" });
        Assert.True(stat.GetProperty("exists").GetBoolean());
        Assert.Equal("file", stat.GetProperty("type").GetString());
        Assert.Equal(2, stat.GetProperty("size").GetInt64());
        Assert.Equal("agent", stat.GetProperty("owner").GetString());
        Assert.Matches("^[r-][w-][x-]{1}[r-][w-][x-][r-][w-][x-]$", stat.GetProperty("permissions").GetString()!);
        Assert.False((await f.Ok(A, "filesystem.stat", new { path = "lst/none" })).GetProperty("exists").GetBoolean());

        var copy = await f.Ok(A, "filesystem.copy", new { source = "lst/a.txt", destination = "lst/c.txt" });
        Assert.Equal(Hex("a"u8.ToArray()), copy.GetProperty("checksum").GetString());
        await f.Fails(A, "filesystem.copy", new { source = "lst/a.txt", destination = "lst/c.txt" }, "DestinationExists");
        await f.Ok(A, "filesystem.copy", new { source = "lst/b.txt", destination = "lst/c.txt", overwrite = true });
        await f.Fails(A, "filesystem.copy", new { source = "lst/zz", destination = "lst/c2.txt" }, "FileNotFound");
        var move = await f.Ok(A, "filesystem.move", new { source = "lst/c.txt", destination = "lst/d.txt" });
        Assert.Equal("/workspace/lst/d.txt", move.GetProperty("destination").GetString());
        Assert.False(File.Exists(Path.Combine(f.Workspace(A), "lst/c.txt")));
        await f.Fails(A, "filesystem.move", new { source = "lst/d.txt", destination = "lst/a.txt" }, "DestinationExists");
    }

    [Fact]
    public async Task Should_soft_delete_to_trash_restore_and_expire()
    {
        await f.Ok(A, "filesystem.write", new { path = "trash/keep.txt", content = "precious", create_parents = true });
        var del = await f.Ok(A, "filesystem.delete", new { path = "trash/keep.txt" });
        var id = del.GetProperty("trash_id").GetString()!;
        Assert.False(File.Exists(Path.Combine(f.Workspace(A), "trash/keep.txt")));
        var until = DateTimeOffset.Parse(del.GetProperty("recoverable_until").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange((until - DateTimeOffset.UtcNow).TotalHours, 23.9, 24.1);
        var meta = Path.Combine(f.DataDirectory, "trash", A, id, "meta.json");
        Assert.Contains("/workspace/trash/keep.txt", File.ReadAllText(meta));

        var restored = await f.Ok(A, "filesystem.restore", new { trash_id = id });
        Assert.Equal("/workspace/trash/keep.txt", restored.GetProperty("restored_path").GetString());
        Assert.Equal("precious", File.ReadAllText(Path.Combine(f.Workspace(A), "trash/keep.txt")));
        await f.Fails(A, "filesystem.restore", new { trash_id = id }, "TrashItemNotFound");
        await f.Fails(A, "filesystem.delete", new { path = "trash" }, "DirectoryNotEmpty");

        // Restore by original path, and expiry through the hourly cleanup.
        await f.Ok(A, "filesystem.delete", new { path = "trash/keep.txt" });
        await f.Ok(A, "filesystem.restore", new { path = "trash/keep.txt" });
        var again = await f.Ok(A, "filesystem.delete", new { path = "trash/keep.txt" });
        var later = DateTimeOffset.UtcNow.AddHours(25);
        Assert.Contains(TrashCleaner.Cleanup(f.DataDirectory, later, dryRun: true), i => i.TrashId == again.GetProperty("trash_id").GetString());
        Assert.True(Directory.Exists(Path.Combine(f.DataDirectory, "trash", A, again.GetProperty("trash_id").GetString()!)));
        TrashCleaner.Cleanup(f.DataDirectory, later);
        Assert.False(Directory.Exists(Path.Combine(f.DataDirectory, "trash", A, again.GetProperty("trash_id").GetString()!)));
        await f.Fails(A, "filesystem.delete", new { path = "trash/keep.txt" }, "FileNotFound");
        // Empty directory delete is allowed.
        await f.Ok(A, "filesystem.delete", new { path = "trash" });
    }

    [Fact]
    public async Task Should_use_user_retention_for_user_callers()
    {
        await f.Ok(A, "filesystem.write", new { path = "u.txt", content = "u" });
        Assert.True(SandboxFixture.Registry.TryResolve("filesystem.delete", out var def));
        var r = await f.Host.ExecuteAsync(new SandboxRequest(AgentName.Parse(A), def.Name, JsonDocument.Parse("""{"path":"u.txt"}""").RootElement, Caller: CallerKind.User), TestContext.Current.CancellationToken);
        var until = DateTimeOffset.Parse(r.Data!.Value.GetProperty("recoverable_until").GetString()!, System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange((until - DateTimeOffset.UtcNow).TotalHours, 167.9, 168.1);
    }

    [Fact]
    public async Task Should_search_by_glob_with_aggregates_and_duplicates()
    {
        await f.Ok(A, "filesystem.write", new { path = "s/a/x.log", content = "same", create_parents = true });
        await f.Ok(A, "filesystem.write", new { path = "s/b/y.log", content = "same", create_parents = true });
        await f.Ok(A, "filesystem.write", new { path = "s/b/z.txt", content = "other!" });
        await f.Ok(A, "filesystem.write", new { path = "s/.env", content = "same" });
        var r = await f.Ok(A, "filesystem.search", new { path = "s", pattern = "*.log" });
        Assert.Equal(2, r.GetProperty("total_matches").GetInt32());
        Assert.Equal(1, (await f.Ok(A, "filesystem.search", new { path = "s", pattern = "b/*.txt" })).GetProperty("total_matches").GetInt32());
        Assert.Equal(3, (await f.Ok(A, "filesystem.search", new { path = "s", pattern = "**/*.???" })).GetProperty("total_matches").GetInt32());
        var agg = await f.Ok(A, "filesystem.search", new { path = "s", pattern = "*", include_hidden = true, include_hash = true,
            aggregate = new { group_by = "extension", dedupe = true } });
        var groups = agg.GetProperty("groups").EnumerateArray().ToDictionary(g => g.GetProperty("key").GetString()!, g => g.GetProperty("count").GetInt32());
        Assert.Equal(2, groups[".log"]);
        var dup = Assert.Single(agg.GetProperty("duplicates").EnumerateArray());
        Assert.Equal(2, dup.GetProperty("count").GetInt32()); // .env is never hashed
        Assert.True(agg.GetProperty("protected_files_skipped").GetInt32() >= 1);
        await f.Fails(A, "filesystem.search", new { path = "s", pattern = "[abc" }, "InvalidPattern");
        await f.Fails(A, "filesystem.search", new { path = "nosuch", pattern = "*" }, "DirectoryNotFound");
    }

    [Fact]
    public async Task Should_search_content_in_every_mode()
    {
        await f.Ok(A, "filesystem.write", new { path = "sc/app.log", content = "ERROR disk\nINFO ok\nERROR net\nWARN x ERROR y\n", create_parents = true });
        await f.Ok(A, "filesystem.write", new { path = "sc/other.log", content = "ERROR disk\n" });
        var total = await f.Ok(A, "filesystem.search_content", new { path = "sc", pattern = "ERROR", total_only = true, files_only = true });
        Assert.Equal("total", total.GetProperty("mode").GetString());
        Assert.Equal(4, total.GetProperty("total").GetInt32());
        var hist = await f.Ok(A, "filesystem.search_content", new { path = "sc", pattern = @"^(?<level>[A-Z]+) ", regex = true, count_by = "level" });
        Assert.Equal(3, hist.GetProperty("counts").GetProperty("ERROR").GetInt32());
        Assert.Equal(1, hist.GetProperty("counts").GetProperty("INFO").GetInt32());
        var files = await f.Ok(A, "filesystem.search_content", new { path = "sc", pattern = "ERROR", files_only = true });
        Assert.Equal("/workspace/sc/app.log", files.GetProperty("files")[0].GetProperty("path").GetString());
        Assert.Equal(3, files.GetProperty("files")[0].GetProperty("match_count").GetInt32());
        var matches = await f.Ok(A, "filesystem.search_content", new { path = "sc", pattern = "error", case_sensitive = false });
        Assert.Equal(4, matches.GetProperty("total_matches").GetInt32());
        // "ERROR disk" appears in two files: folded into one result with a duplicate count.
        var m = matches.GetProperty("matches").EnumerateArray().ToList();
        Assert.Equal(3, m.Count);
        Assert.Contains("INFO ok", m[0].GetProperty("enclosing_snippet").GetString());
        await f.Fails(A, "filesystem.search_content", new { path = "sc", pattern = "ERROR", count_by = "1" }, "InvalidInput");
    }

    [Fact]
    public async Task Should_deliver_watch_events()
    {
        await f.Ok(A, "filesystem.write", new { path = "w/.keep", content = "", create_parents = true });
        var watch = await f.Ok(A, "filesystem.watch", new { path = "w", event_types = new[] { "create", "rename" }, pattern = "*.txt" });
        var id = watch.GetProperty("watch_id").GetString();
        await f.Ok(A, "filesystem.write", new { path = "w/ignored.md", content = "x" });
        await f.Ok(A, "filesystem.write", new { path = "w/new.txt", content = "x" });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        FileWatchEvent evt;
        do { evt = await f.Host.WatchEvents.ReadAsync(cts.Token); }
        while (evt.WatchId != id || evt.Path != "/workspace/w/new.txt");
        Assert.Equal("create", evt.EventType); // the atomic write's temp file and rename are the worker's own business
        Assert.Equal(A, evt.Agent.Value);
        Assert.True((await f.Host.StopWatchAsync(AgentName.Parse(A), id!, TestContext.Current.CancellationToken)).IsSuccess);
        await f.Fails(A, "filesystem.watch", new { path = "w/.keep" }, "NotADirectory");
    }

    [Fact]
    public async Task Should_report_a_write_as_one_create_or_modify_of_the_named_file_and_never_the_temp_file()
    {
        // arrange
        await f.Ok(A, "filesystem.write", new { path = "wt/.keep", content = "", create_parents = true });
        var watch = await f.Ok(A, "filesystem.watch", new { path = "wt" });
        var id = watch.GetProperty("watch_id").GetString();

        // act: a new file, the same file written again, then moved
        await f.Ok(A, "filesystem.write", new { path = "wt/a.txt", content = "1" });
        await f.Ok(A, "filesystem.write", new { path = "wt/a.txt", content = "22" });
        await f.Ok(A, "filesystem.move", new { source = "wt/a.txt", destination = "wt/b.txt" });
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(20));
        var events = new List<FileWatchEvent>();
        do { var e = await f.Host.WatchEvents.ReadAsync(cts.Token); if (e.WatchId == id) events.Add(e); }
        while (!events.Any(e => e.Path == "/workspace/wt/b.txt"));

        // assert
        var seen = string.Join("; ", events.Select(e => $"{e.EventType} {e.Path} {e.OldPath}"));
        Assert.DoesNotContain(events, e => e.Path.Contains(".kruxos-", StringComparison.Ordinal) || (e.OldPath?.Contains(".kruxos-", StringComparison.Ordinal) ?? false));
        var forA = events.Where(e => e.Path == "/workspace/wt/a.txt").ToList();
        Assert.True(forA.Count >= 2, seen);
        Assert.Equal("create", forA[0].EventType);
        Assert.Null(forA[0].OldPath);
        Assert.Contains(forA.Skip(1), e => e.EventType == "modify");
        Assert.Contains(events, e => e.Path == "/workspace/wt/b.txt" && e.OldPath == "/workspace/wt/a.txt");
        Assert.True((await f.Host.StopWatchAsync(AgentName.Parse(A), id!, TestContext.Current.CancellationToken)).IsSuccess);
    }

    [Theory]
    [InlineData(".a.txt.kruxos-0d20031fdd83.tmp", true)]
    [InlineData("a.txt.kruxos-0d20031fdd83.tmp", false)]
    [InlineData(".a.txt.kruxos-0D20031FDD83.tmp", false)]
    [InlineData(".a.txt.kruxos-0d20031fdd8.tmp", false)]
    [InlineData(".a.txt.kruxos-0d20031fdd83.txt", false)]
    [InlineData(".a.txt.other-0d20031fdd83.tmp", false)]
    [InlineData("a.txt", false)]
    public void Should_recognise_only_the_workers_own_temp_names(string name, bool expected)
    {
        // act / assert
        Assert.Equal(expected, KruxOS.SandboxWorker.Ops.AtomicWrites.IsTempName(name));
        Assert.True(KruxOS.SandboxWorker.Ops.AtomicWrites.IsTempName(KruxOS.SandboxWorker.Ops.AtomicWrites.TempNameFor("report.pdf")));
    }

    [Fact]
    public async Task Should_use_operator_mounts_read_only_and_read_write()
    {
        var ro = Directory.CreateTempSubdirectory("kruxos-ro-").FullName;
        var rw = Directory.CreateTempSubdirectory("kruxos-rw-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(ro, "ref.txt"), "reference");
            File.SetUnixFileMode(ro, (UnixFileMode)0x1ED);
            File.SetUnixFileMode(Path.Combine(ro, "ref.txt"), (UnixFileMode)0x1A4);
            var agent = AgentName.Parse("mount-agent");
            Directory.CreateDirectory(rw);
            Libc_chown(rw, f.Host.HostUidFor(agent));
            f.Host.Mounts.Add("mount-agent", ro, "ref", readOnly: true);
            f.Host.Mounts.Add("mount-agent", rw, "out", readOnly: false);
            Assert.Throws<ArgumentException>(() => f.Host.Mounts.Add("mount-agent", "/etc", "etc", true));
            Assert.Throws<ArgumentException>(() => f.Host.Mounts.Add("mount-agent", "/does/not/exist", "x", true));
            Assert.Equal("reference", (await f.Ok("mount-agent", "filesystem.read", new { path = "/mnt/ref/ref.txt" })).GetProperty("content").GetString());
            await f.Fails("mount-agent", "filesystem.write", new { path = "/mnt/ref/new.txt", content = "x" }, "PermissionDenied");
            await f.Ok("mount-agent", "filesystem.write", new { path = "/mnt/out/result.txt", content = "done" });
            Assert.Equal("done", File.ReadAllText(Path.Combine(rw, "result.txt")));
            var reloaded = Mounts.MountTable.Load(f.DataDirectory);
            Assert.Equal(2, reloaded.For("mount-agent").Length);
            Assert.True(reloaded.Remove("mount-agent", "ref"));
        }
        finally
        {
            f.Host.Mounts.Remove("mount-agent", "ref");
            f.Host.Mounts.Remove("mount-agent", "out");
            await f.Host.StopAgentAsync(AgentName.Parse("mount-agent"), TestContext.Current.CancellationToken);
            Directory.Delete(ro, true);
            Directory.Delete(rw, true);
        }
    }

    internal static uint? OwnerUid(string path) => NativeTest.OwnerUid(path);
    private static void Libc_chown(string path, uint uid) => NativeTest.Chown(path, uid);
}
