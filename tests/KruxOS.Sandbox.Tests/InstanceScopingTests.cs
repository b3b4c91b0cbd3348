using KruxOS.Testing;
using KruxOS.Core.Agents;
using KruxOS.Sandbox.Isolation;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// Two gateways on one host (two data directories, the same cgroup name, the same agent names) share neither a
/// cgroup nor a host uid, and one of them shutting down leaves the other's worker and processes running (ADR 0019).
/// </summary>
[Collection(SandboxCollection.Name)]
public sealed class InstanceScopingTests(SandboxFixture f)
{
    [Fact]
    public async Task Two_gateways_with_the_same_agents_get_disjoint_cgroups_and_uids_and_disposing_one_spares_the_other()
    {
        // arrange: two hosts configured exactly alike (same CgroupName, same uid base), like two default installs
        var shared = f.CgroupName + "-twin";
        var a = new OwnHost((UnixFileMode)0x1C0, shared);
        await using var b = new OwnHost((UnixFileMode)0x1C0, shared);
        var agent = AgentName.Parse("builder");
        try
        {
            await HostHelpers.Ok(a.Host, "builder", "filesystem.write", new { path = "a.txt", content = "a" });
            await HostHelpers.Ok(b.Host, "builder", "filesystem.write", new { path = "b.txt", content = "b" });
            var loopA = await HostHelpers.Ok(a.Host, "builder", "process.run", new { command = "sleep", args = new[] { "300" }, background = true });
            var loopB = await HostHelpers.Ok(b.Host, "builder", "process.run", new { command = "sleep", args = new[] { "300" }, background = true });

            // assert: nothing shared
            var (idA, firstA, lastA) = a.Host.InstanceInfo!.Value;
            var (idB, firstB, lastB) = b.Host.InstanceInfo!.Value;
            Assert.NotEqual(idA, idB);
            Assert.False(new UidRange(firstA, lastA - firstA + 1).Overlaps(new UidRange(firstB, lastB - firstB + 1)), $"{firstA}-{lastA} overlaps {firstB}-{lastB}");
            var uidA = a.Host.HostUidFor(agent);
            var uidB = b.Host.HostUidFor(agent);
            Assert.NotEqual(uidA, uidB);
            Assert.NotEmpty(SandboxLeftovers.ProcessesOf(uidA));
            Assert.NotEqual(a.Host.CgroupPathOf(agent), b.Host.CgroupPathOf(agent));
            Assert.StartsWith(shared + "/" + idA + "/", a.Host.CgroupPathOf(agent), StringComparison.Ordinal);
            Assert.StartsWith(shared + "/" + idB + "/", b.Host.CgroupPathOf(agent), StringComparison.Ordinal);

            // act: gateway A shuts down (its dispose removes "its" cgroup subtree and kills what is in it)
            await a.DisposeAsync();

            // assert: A's processes are gone, B's sandbox is untouched: its background process runs, its worker answers, its group is there
            Assert.True(await HostHelpers.Eventually(() => SandboxLeftovers.ProcessesOf(uidA).Count == 0, TimeSpan.FromSeconds(15)));
            Assert.Equal("running", (await HostHelpers.Ok(b.Host, "builder", "process.monitor", new { process_id = loopB.GetProperty("process_id").GetString() })).GetProperty("state").GetString());
            Assert.Equal("b", (await HostHelpers.Ok(b.Host, "builder", "filesystem.read", new { path = "b.txt" })).GetProperty("content").GetString());
            Assert.NotEmpty(SandboxLeftovers.ProcessesOf(uidB));
            Assert.True(SandboxLeftovers.CgroupExists(b.Host.CgroupPathOf(agent)));
            Assert.False(SandboxLeftovers.CgroupExists(shared + "/" + idA));
            Assert.Equal("running", loopA.GetProperty("state").GetString());
        }
        finally
        {
            await a.DisposeAsync();
        }
    }

    [Fact]
    public void The_uid_range_choice_avoids_other_data_directories_host_accounts_and_busy_ranges()
    {
        var taken = new List<UidRange> { new(200_000, 10_000) };
        var accounts = new List<UidRange> { new(210_005, 1) };
        // 200000 is claimed, 210000 holds an account, 220000 has live processes: the next free one is 230000
        var chosen = UidRangeAllocation.Choose(null, 200_000, 10_000, taken, accounts, r => r.First == 220_000);
        Assert.Equal(new UidRange(230_000, 10_000), chosen);
        // a data directory keeps its own range when it is free, and loses it when another holds it
        Assert.Equal(new UidRange(250_000, 10_000), UidRangeAllocation.Choose(new UidRange(250_000, 10_000), 200_000, 10_000, taken, accounts, _ => false));
        Assert.Equal(new UidRange(220_000, 10_000), UidRangeAllocation.Choose(new UidRange(200_000, 10_000), 200_000, 10_000, taken, accounts, _ => false));
        // nothing fits: no range (the host then refuses sandboxed calls)
        Assert.Null(UidRangeAllocation.Choose(null, UidRangeAllocation.Ceiling - 5, 10_000, taken, accounts, _ => false));
    }
}
