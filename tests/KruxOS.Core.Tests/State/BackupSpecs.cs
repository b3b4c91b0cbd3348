using System.Security.Cryptography;
using KruxOS.Core.Agents;
using KruxOS.Core.State;
using KruxOS.Core.State.Backups;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.Vault;
using Xunit;
using static KruxOS.Core.State.Persistent.PersistentStateCommands;
using static KruxOS.Core.State.Persistent.PersistentStateReplies;
using static KruxOS.Core.Tests.State.StateTestKit;

namespace KruxOS.Core.Tests.State;

/// <summary>
/// The backup file format (ADR 0042) attacked as a local user with write access to a copy of the file would: every change
/// to the header or a chunk, a truncation, an appended or dropped chunk, a renamed file and another key are refused, and
/// none of them yields any plaintext. Plus ids, scopes, retention and the persistent-state restore decision.
/// </summary>
public sealed class BackupSpecs
{
    private static readonly byte[] Key = RandomNumberGenerator.GetBytes(32);
    private const string Id = "bkp-20260325T140000";

    private static VaultHeader Vault(byte fill = 7) => new(VaultKdf.Default(new VaultBytes(Enumerable.Repeat(fill, 16).ToArray())), VaultFormat.Cipher,
        new SealedValue(new VaultBytes(new byte[12]), new VaultBytes(new byte[VaultFormat.VerifierPlaintext.Length + 16])), T0);

    private static BackupContents Contents(int values = 3, int bytes = 10)
    {
        var s = PersistentState.Empty(Builder);
        for (var i = 0; i < values; i++)
        {
            var (_, events) = s.ProcessCommand(new SetValue(Builder, $"k{i}", J($"\"{new string('x', bytes)}\"")), T0, PersistentStateLimits.Default);
            s = s.ApplyAll(events);
        }
        return new BackupContents(1, "agent:builder", [s.ToSnapshot()], []);
    }

    private static byte[] File(BackupContents contents, int chunk = BackupFormat.MinChunkBytes, string id = Id, byte[]? key = null)
    {
        var plain = BackupFormat.Serialize(contents);
        var header = BackupFormat.NewHeader(id, T0, BackupScope.ForAgent(Builder), [Builder], plain.Length, Vault(), chunk);
        using var output = new MemoryStream();
        BackupFormat.Write(output, header, key ?? Key, plain);
        return output.ToArray();
    }

    private static (BackupContents? Contents, string? Error) Open(byte[] file, string id = Id, byte[]? key = null)
    {
        var (header, plain, error) = BackupFormat.Open(new MemoryStream(file), id, key ?? Key);
        if (plain is null) return (null, error);
        return BackupFormat.ReadContents(header!, plain);
    }

    [Fact]
    public void A_backup_round_trips_with_every_retained_version()
    {
        var contents = Contents(values: 40, bytes: 400);
        var (back, error) = Open(File(contents));
        Assert.Null(error);
        Assert.Equal(Wire(contents), Wire(back!));
    }

    [Fact]
    public void Changing_any_single_byte_of_the_file_is_refused_and_yields_nothing()
    {
        var file = File(Contents(values: 20, bytes: 300));
        // Every byte of a small file: magic, length, header, chunk lengths, ciphertexts, tags.
        for (var i = 0; i < file.Length; i += file.Length > 4000 ? 7 : 1)
        {
            var copy = (byte[])file.Clone();
            copy[i] ^= 0x01;
            var (contents, error) = Open(copy);
            Assert.True(contents is null, $"a flipped bit at byte {i} of {file.Length} was accepted");
            Assert.NotNull(error);
        }
    }

    [Fact]
    public void A_truncated_file_an_appended_chunk_and_a_dropped_chunk_are_refused()
    {
        var file = File(Contents(values: 30, bytes: 500));
        for (var cut = 1; cut < 200; cut += 13)
            Assert.Equal("it is truncated", Open(file[..^cut]).Error);
        Assert.Equal("data follows its last chunk", Open([.. file, 0]).Error);
        // A whole chunk removed from the middle (the plaintext length no longer matches what the header authenticates).
        var headerEnd = 12 + (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(8));
        var frame = 4 + BackupFormat.MinChunkBytes + 16;
        var dropped = file[..headerEnd].Concat(file[(headerEnd + frame)..]).ToArray();
        Assert.NotNull(Open(dropped).Error);
        // Two chunks swapped.
        var swapped = file[..headerEnd].Concat(file[(headerEnd + frame)..(headerEnd + 2 * frame)]).Concat(file[headerEnd..(headerEnd + frame)])
            .Concat(file[(headerEnd + 2 * frame)..]).ToArray();
        Assert.Contains("does not authenticate", Open(swapped).Error);
    }

    [Fact]
    public void A_renamed_file_and_a_file_sealed_under_another_key_are_refused()
    {
        var file = File(Contents());
        Assert.Contains("renamed", Open(file, id: "bkp-20260325T140001").Error);
        Assert.Contains("does not authenticate", Open(file, key: RandomNumberGenerator.GetBytes(32)).Error);
        // A file whose header was rewritten to carry another id (a rename inside the file) no longer authenticates.
        var other = File(Contents(), id: "bkp-20260325T140001");
        var at = other.AsSpan().IndexOf("bkp-20260325T140001"u8);
        "bkp-20260325T140000"u8.CopyTo(other.AsSpan(at));
        Assert.Equal(Id, BackupFormat.ReadHeader(new MemoryStream(other)).Header!.BackupId);
        Assert.Contains("does not authenticate", Open(other).Error);
    }

    [Fact]
    public void The_header_never_holds_a_key_and_carries_the_vault_parameters_for_a_fresh_directory()
    {
        var file = File(Contents());
        var header = BackupFormat.ReadHeader(new MemoryStream(file)).Header!;
        Assert.Equal(Vault().Kdf, header.Vault.Kdf);
        Assert.Equal("agent:builder", header.Scope);
        var headerText = System.Text.Encoding.UTF8.GetString(file[..(12 + (int)System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(file.AsSpan(8)))]);
        Assert.DoesNotContain(Convert.ToBase64String(Key), headerText, StringComparison.Ordinal);
        Assert.True(BackupFormat.SameVault(Vault(), header.Vault));
        Assert.False(BackupFormat.SameVault(Vault(9), header.Vault));
    }

    [Fact]
    public void Headers_asking_for_absurd_work_or_sizes_are_refused_before_any_key_is_derived()
    {
        var good = BackupFormat.NewHeader(Id, T0, BackupScope.Full, [Builder], 10, Vault());
        Assert.Null(good.Error());
        Assert.NotNull((good with { Vault = good.Vault with { Kdf = good.Vault.Kdf with { MemoryKiB = 64 * 1024 * 1024 } } }).Error());
        Assert.NotNull((good with { PlaintextBytes = long.MaxValue }).Error());
        Assert.NotNull((good with { ChunkBytes = 1 }).Error());
        Assert.NotNull((good with { BackupId = "../../no-such-dir/x" }).Error());
        Assert.NotNull((good with { Scope = "agent:../x" }).Error());
        Assert.NotNull(BackupFormat.ReadHeader(new MemoryStream("not a backup"u8.ToArray())).Error);
    }

    [Theory]
    [InlineData("../bkp-20260325T140000")]
    [InlineData("bkp-20260325T140000/../../x")]
    [InlineData("bkp-20260325T140000.kbak")]
    [InlineData("/no-such-dir/bkp-20260325T140000")]
    [InlineData("bkp-20260325T140000\0")]
    [InlineData("bkp-2026032XT140000")]
    [InlineData("bkp-20261325T140000")]
    [InlineData("bkp-20260325T140000-1")]
    [InlineData("")]
    public void Backup_ids_with_path_characters_or_any_other_shape_do_not_parse(string id)
    {
        Assert.False(BackupIds.TryParse(id, out _));
        Assert.Equal("InvalidInput", BackupIds.Validate(id)!.ErrorType);
    }

    [Fact]
    public void Ids_are_unique_within_a_second_and_retention_keeps_the_newest()
    {
        Assert.Equal("bkp-20260325T140000", BackupIds.For(T0, []));
        Assert.Equal("bkp-20260325T140000-2", BackupIds.For(T0, ["bkp-20260325T140000"]));
        Assert.True(BackupIds.TryParse("bkp-20260325T140000-99", out var second));
        Assert.Equal(T0, second);
        var entries = Enumerable.Range(0, 5).Select(i => new BackupCatalogEntry($"bkp-2026032{i}T140000", T0.AddDays(i), "full", 1)).ToList();
        Assert.Equal(["bkp-20260321T140000", "bkp-20260320T140000"], BackupCatalog.Prune(entries, 3));
    }

    [Fact]
    public void An_agent_sees_and_restores_only_its_own_backups_and_exports_no_full_backup()
    {
        Assert.True(BackupCatalog.VisibleTo(Builder, "agent:builder"));
        Assert.True(BackupCatalog.VisibleTo(Builder, "full"));
        Assert.False(BackupCatalog.VisibleTo(Builder, "agent:reviewer"));
        Assert.False(BackupCatalog.VisibleTo(Builder, "unknown"));
        Assert.Null(BackupCatalog.AgentRestoreRefusal(Builder, null));
        Assert.Equal("PermissionDenied", BackupCatalog.AgentRestoreRefusal(Builder, "reviewer")!.ErrorType);
        Assert.Equal("PermissionDenied", BackupCatalog.AgentExportRefusal(Builder, "full")!.ErrorType);
        Assert.Null(BackupCatalog.AgentExportRefusal(Builder, "agent:builder"));
        Assert.Equal("PermissionDenied", BackupCatalog.AgentCreateRefusal(Builder, "reviewer")!.ErrorType);
    }

    [Fact]
    public void Contents_that_mix_agents_or_hold_invalid_keys_are_refused()
    {
        var mine = Contents();
        Assert.Null(mine.Error());
        var theirs = PersistentState.Empty(Reviewer).ToSnapshot();
        Assert.NotNull((mine with { Agents = [.. mine.Agents, theirs] }).Error());
        Assert.NotNull((mine with { Shared = [new BackedUpSharedEntry("k", 1, J("1"), Principal.ForAgent(Builder), T0)] }).Error());
        Assert.NotNull((mine with { Scope = "full", Shared = [new BackedUpSharedEntry(" bad", 1, J("1"), Principal.ForAgent(Builder), T0)] }).Error());
    }

    [Fact]
    public void A_restore_replaces_the_whole_state_keeps_versions_and_recomputes_the_quota()
    {
        var backup = Contents(values: 2).Agents[0];
        var s = PersistentState.Empty(Builder);
        foreach (var key in new[] { "k0", "other" })
        {
            for (var v = 0; v < 5; v++)
            {
                var (_, ev) = s.ProcessCommand(new SetValue(Builder, key, J($"{v}")), T0, PersistentStateLimits.Default);
                s = s.ApplyAll(ev);
            }
        }
        var (reply, events) = s.ProcessCommand(new RestoreState(Builder, backup), T0.AddHours(1), PersistentStateLimits.Default);
        var restored = s.ApplyAll(events);
        Assert.Equal(2, Assert.IsType<RestoreResult>(reply).Keys);
        Assert.Equal(["k0", "k1"], restored.Keys.Keys);
        Assert.Equal(1, restored.Keys["k0"].Latest.Version);
        Assert.Equal(PersistentState.FromSnapshot(backup).UsedBytes, restored.UsedBytes);
        // Replaying the event gives the same state (recovery).
        Assert.Equal(Wire(restored.ToSnapshot()), Wire(PersistentState.Empty(Builder).ApplyAll(events).ToSnapshot()));
    }

    [Fact]
    public void A_restore_over_the_quota_or_of_another_agent_changes_nothing()
    {
        var backup = Contents(values: 3, bytes: 1000).Agents[0];
        var tight = PersistentStateLimits.Default with { QuotaBytes = 2000 };
        var (reply, events) = PersistentState.Empty(Builder).ProcessCommand(new RestoreState(Builder, backup), T0, tight);
        Assert.Equal("QuotaExceeded", Assert.IsType<StateRefused>(reply).Error.ErrorType);
        Assert.Empty(events);
        (reply, events) = PersistentState.Empty(Reviewer).ProcessCommand(new RestoreState(Reviewer, backup), T0, PersistentStateLimits.Default);
        Assert.Equal("InvalidInput", Assert.IsType<StateRefused>(reply).Error.ErrorType);
        Assert.Empty(events);
    }
}
