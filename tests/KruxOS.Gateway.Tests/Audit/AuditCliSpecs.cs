using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Audit;
using KruxOS.Cli;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Gateway.Tests.Audit;

/// <summary><c>kruxos audit …</c> run in-process against an audit directory written by the real file writer.</summary>
public sealed class AuditCliSpecs : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("kruxos-audit-cli-").FullName;

    private sealed class Clock(DateTimeOffset now) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = now;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static readonly DateTimeOffset Day1 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    // 6 entries on day 1 and 4 on day 2: builder calls filesystem.read (one denied), other calls system.time.
    private void WriteLog()
    {
        var clock = new Clock(Day1);
        var (writer, _) = AuditFileWriter.Open(_dir, clock);
        using (writer)
        {
            var chain = AuditChain.FromGenesis();
            for (var i = 0; i < 10; i++)
            {
                if (i == 6) clock.Now = Day1.AddDays(1);
                var agent = i % 2 == 0 ? "builder" : "other";
                var capability = agent == "builder" ? "filesystem.read" : "system.time";
                var entry = AuditEntry.Call(clock.Now.AddSeconds(i), new Principal(PrincipalKind.Agent, agent), $"sess-{agent}",
                    CapabilityName.Parse(capability), JsonDocument.Parse($$"""{"path":"/w/{{i}}","api_key":"sk-live-123"}""").RootElement,
                    i == 4 ? AuditStatus.Denied : AuditStatus.Success, "ok", new AuditPolicyDecision(Tier.Autonomous, "agent.default", 1), 10 + i);
                writer.AppendBatch([chain.Seal(entry)]);
            }
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    private static async Task<(int Code, string Out, string Err)> Run(params string[] args)
    {
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await CliApp.RunAsync(args, stdout, stderr, CancellationToken.None);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task Should_query_with_filters_and_print_json()
    {
        WriteLog();

        var (code, output, err) = await Run("audit", "query", "--agent", "builder", "--capability", "filesystem.*", "--outcome", "success",
            "--from", "2026-03-01T00:00:00Z", "--format", "json", "--dir", _dir);

        Assert.True(code == 0, err);
        var json = JsonNode.Parse(output)!;
        Assert.Equal(4, json["total"]!.GetValue<long>()); // builder made 5 calls, one denied
        Assert.All(json["entries"]!.AsArray(), e =>
        {
            Assert.Equal("builder", e!["agent"]!.GetValue<string>());
            Assert.Equal("success", e["result"]!["status"]!.GetValue<string>());
            Assert.Equal("[REDACTED:api_key]", e["arguments"]!["api_key"]!.GetValue<string>());
        });
        var table = await Run("audit", "query", "--outcome", "denied", "--dir", _dir);
        Assert.Equal(0, table.Code);
        Assert.Contains("Showing 1-1 of 1.", table.Out, StringComparison.Ordinal);
        Assert.Equal(CliApp.Usage, (await Run("audit", "query", "--last", "forever", "--dir", _dir)).Code);
    }

    [Fact]
    public async Task Should_include_the_whole_day_when_to_is_a_date_alone()
    {
        WriteLog(); // 6 entries on 2026-03-01, 4 on 2026-03-02

        var firstDay = await Run("audit", "query", "--to", "2026-03-01", "--format", "json", "--dir", _dir);
        var secondDay = await Run("audit", "query", "--from", "2026-03-02", "--to", "2026-03-02", "--format", "json", "--dir", _dir);
        var instant = await Run("audit", "query", "--to", "2026-03-01T12:00:03Z", "--format", "json", "--dir", _dir);

        Assert.True(firstDay.Code == 0, firstDay.Err);
        Assert.Equal(6, JsonNode.Parse(firstDay.Out)!["total"]!.GetValue<long>());
        Assert.Equal(4, JsonNode.Parse(secondDay.Out)!["total"]!.GetValue<long>());
        Assert.Equal(3, JsonNode.Parse(instant.Out)!["total"]!.GetValue<long>()); // a timestamp stays an exclusive bound
    }

    [Fact]
    public async Task Should_tail_replay_and_report_stats_with_chain_verification()
    {
        WriteLog();

        var stats = await Run("audit", "stats", "--dir", _dir);
        var tail = await Run("audit", "tail", "-n", "3", "--format", "json", "--dir", _dir);
        var replay = await Run("audit", "replay", "sess-other", "--format", "json", "--dir", _dir);

        Assert.True(stats.Code == 0, stats.Err);
        Assert.Contains("Calls:     10", stats.Out, StringComparison.Ordinal);
        Assert.Contains("Other:     -", stats.Out, StringComparison.Ordinal);
        Assert.Contains("denied 1, success 9", stats.Out, StringComparison.Ordinal);
        Assert.Contains("verified (10 entries across 2 files)", stats.Out, StringComparison.Ordinal);
        var tailed = JsonNode.Parse(tail.Out)!["entries"]!.AsArray();
        Assert.Equal(3, tailed.Count);
        Assert.True(string.CompareOrdinal(tailed[0]!["timestamp"]!.GetValue<string>(), tailed[2]!["timestamp"]!.GetValue<string>()) < 0);
        var replayed = JsonNode.Parse(replay.Out)!["entries"]!.AsArray();
        Assert.Equal(5, replayed.Count);
        Assert.All(replayed, e => Assert.Equal("sess-other", e!["session_id"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Should_verify_an_intact_directory_and_locate_a_flipped_byte_in_a_tampered_copy()
    {
        WriteLog();
        var copy = Directory.CreateTempSubdirectory("kruxos-audit-copy-").FullName;
        try
        {
            foreach (var f in Directory.EnumerateFiles(_dir, "audit-*.log")) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
            var day2 = Path.Combine(copy, AuditFileNames.ForDay(DateOnly.FromDateTime(Day1.AddDays(1).UtcDateTime)));
            var frames = AuditDirectory.ReadFrames(day2, new TailHolder()).ToList();
            var target = frames[2];
            var bytes = await File.ReadAllBytesAsync(day2);
            bytes[target.Offset + AuditFraming.PrefixLength + target.Payload.Length / 2] ^= 0x01;
            await File.WriteAllBytesAsync(day2, bytes);

            var intact = await Run("audit", "verify", "--dir", _dir);
            var tampered = await Run("audit", "verify", "--dir", copy);
            var tamperedJson = await Run("audit", "verify", "--format", "json", "--dir", copy);

            Assert.Equal(0, intact.Code);
            Assert.Contains("verified (10 entries across 2 files)", intact.Out, StringComparison.Ordinal);
            Assert.Equal(AuditCli.ChainBroken, tampered.Code);
            Assert.Contains($"file {Path.GetFileName(day2)}, entry 2, offset {target.Offset}", tampered.Out, StringComparison.Ordinal);
            var issue = JsonNode.Parse(tamperedJson.Out)!["issues"]!.AsArray()[0]!;
            Assert.Equal(Path.GetFileName(day2), issue["file"]!.GetValue<string>());
            Assert.Equal(2, issue["entry_index"]!.GetValue<int>());
            Assert.Equal(target.Offset, issue["offset"]!.GetValue<long>());
            Assert.Equal(CliApp.Usage, (await Run("audit", "verify", "--dir", Path.Combine(copy, "absent"))).Code);
            // the copy has no index: queries build one in memory and leave the directory untouched
            var query = await Run("audit", "query", "--agent", "other", "--format", "json", "--dir", copy);
            Assert.Equal(5, JsonNode.Parse(query.Out)!["total"]!.GetValue<long>());
            Assert.False(File.Exists(Path.Combine(copy, AuditFileNames.Index)));
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    [Fact]
    public async Task Should_report_a_deleted_newest_day_file_located_when_verifying_with_the_index()
    {
        // arrange: the log's writer kept the index; the newest day file (2026-03-02) is deleted
        WriteLog();
        var newest = AuditFileNames.ForDay(DateOnly.FromDateTime(Day1.AddDays(1).UtcDateTime));
        File.Delete(Path.Combine(_dir, newest));

        // act
        var verify = await Run("audit", "verify", "--dir", _dir);

        // assert
        Assert.Equal(AuditCli.ChainBroken, verify.Code);
        Assert.Contains($"missing_file: file {newest}, entry 0, offset 0: the index lists 4 entries", verify.Out, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Should_find_calls_by_how_their_approval_ended_not_by_status_alone()
    {
        // arrange: a plain success, an approved call (resolution + final call) and a rejected one (resolution + final call)
        var clock = new Clock(Day1);
        var (writer, _) = AuditFileWriter.Open(_dir, clock);
        using (writer)
        {
            var chain = AuditChain.FromGenesis();
            var builder = new Principal(PrincipalKind.Agent, "builder");
            AuditEntry Call(int i, AuditStatus status, string? approval = null, string? decision = null) =>
                AuditEntry.Call(Day1.AddSeconds(i), builder, "sess-a", CapabilityName.Parse("email.send"), JsonDocument.Parse("{}").RootElement, status, "s",
                    new AuditPolicyDecision(Tier.ApprovalRequired), 1, metadata: new AuditMetadata(ApprovalRequestId: approval, ApprovalDecision: decision));
            AuditEntry Resolution(int i, string approval, string decision) =>
                AuditEntry.ApprovalResolution(Day1.AddSeconds(i), Principal.ForUser("op"), builder, "sess-a", CapabilityName.Parse("email.send"), approval, decision, null);
            writer.AppendBatch([.. new[]
            {
                Call(0, AuditStatus.Success),
                Resolution(1, "appr-1", "approved"), Call(2, AuditStatus.Success, "appr-1", "approved"),
                Resolution(3, "appr-2", "rejected"), Call(4, AuditStatus.Denied, "appr-2", "rejected"),
            }.Select(chain.Seal)]);
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

        // act
        var approved = await Run("audit", "query", "--outcome", "approved", "--format", "json", "--dir", _dir);
        var rejected = await Run("audit", "query", "--outcome", "rejected", "--format", "json", "--dir", _dir);
        var success = await Run("audit", "query", "--outcome", "success", "--format", "json", "--dir", _dir);
        var unknown = await Run("audit", "query", "--outcome", "maybe", "--dir", _dir);

        // assert: approved is not "every success"
        Assert.True(approved.Code == 0, approved.Err);
        var approvedEntries = JsonNode.Parse(approved.Out)!["entries"]!.AsArray();
        Assert.Equal(2, approvedEntries.Count);
        Assert.All(approvedEntries, e => Assert.Equal("approved", e!["metadata"]!["approval_decision"]!.GetValue<string>()));
        Assert.All(JsonNode.Parse(rejected.Out)!["entries"]!.AsArray(), e => Assert.Equal("appr-2", e!["metadata"]!["approval_request_id"]!.GetValue<string>()));
        Assert.Equal(2, JsonNode.Parse(rejected.Out)!["total"]!.GetValue<long>());
        Assert.Equal(3, JsonNode.Parse(success.Out)!["total"]!.GetValue<long>());
        Assert.Equal(CliApp.Usage, unknown.Code);
        Assert.Contains("timed_out", unknown.Err, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        try { Directory.Delete(_dir, recursive: true); }
        catch (IOException) { }
    }
}
