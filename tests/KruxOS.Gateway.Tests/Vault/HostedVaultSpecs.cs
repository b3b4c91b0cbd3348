using System.Text;
using System.Text.Json;
using KruxOS.Actors.Vault;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Network;
using KruxOS.Core.Vault;
using KruxOS.Testing;
using KruxOS.Vault;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Vault;

/// <summary>One real gateway started with a vault passphrase, shared by <see cref="HostedVaultSpecs"/>.</summary>
public sealed class UnlockedVaultGateway : IAsyncLifetime
{
    public const string Passphrase = "correct horse battery staple";

    public TestGateway Gateway { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        Gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test")));
        await VaultWait.UntilAsync(() => Gateway.Services.GetRequiredService<VaultAdmin>().LockState == VaultLockState.Unlocked, "the vault to unlock at start-up");
    }

    public async ValueTask DisposeAsync() => await Gateway.DisposeAsync();
}

/// <summary>Bounded polling for the specs of the vault.</summary>
public static class VaultWait
{
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}

/// <summary>
/// The hosted vault of a real gateway: the start-up passphrase initialises an empty vault, the node's
/// <see cref="ISecretAccess"/> resolves secrets for exactly their capability and host, writes every resolution (granted or
/// refused) to the audit log without the value, fails closed while locked, and derives purpose keys.
/// </summary>
public sealed class HostedVaultSpecs(UnlockedVaultGateway fixture) : IClassFixture<UnlockedVaultGateway>
{
    private const string Value = "sk_live_hosted_vault_spec_4711";
    private static readonly CapabilityName Credentialed = CapabilityName.Parse("network.credentialed_request");

    private IServiceProvider Services => fixture.Gateway.Services;
    private VaultAdmin Admin => Services.GetRequiredService<VaultAdmin>();
    private ISecretAccess Secrets => Services.GetRequiredService<ISecretAccess>();

    private static SecretUseContext Use(string name, string host, string session = "s-1") =>
        new(AgentName.Parse("alice"), session, new SecretUseRequest(name, Credentialed, new SecretDestination(host, HostKind.Dns, true, "allowed")));

    private async Task EnsureSecretAsync(string name)
    {
        if (Admin.List(includeRevoked: true).Any(s => s.Name == name)) return;
        var added = await Admin.AddAsync(name, "api_key", ["network.credentialed_request"], ["api.stripe.com"], Encoding.UTF8.GetBytes(Value),
            "cli:root", TestContext.Current.CancellationToken);
        Assert.True(added.IsOk, added.Error?.Message);
    }

    private async Task<List<AuditEntry>> SecretUsesAsync(string session)
    {
        var audit = new AuditReader(Path.Combine(fixture.Gateway.DataDir, "audit"));
        var page = await audit.QueryAsync(new AuditQuery { Agent = "alice", Capability = "secrets.use", SessionId = session }, TestContext.Current.CancellationToken);
        return [.. page.Entries.Select(e => e.Entry)];
    }

    [Fact]
    public async Task Should_initialise_at_start_up_and_resolve_an_allowed_use_with_an_audit_entry_that_holds_no_value()
    {
        await EnsureSecretAsync("stripe");
        Assert.True(Secrets.IsUnlocked);

        using var granted = await Secrets.ResolveAsync(Use("stripe", "api.stripe.com", "s-granted"), TestContext.Current.CancellationToken);

        Assert.True(granted.Granted);
        Assert.Equal(Value, granted.Value!.Use(0, (bytes, _) => Encoding.UTF8.GetString(bytes)));
        var entry = Assert.Single(await SecretUsesAsync("s-granted"));
        Assert.Equal(AuditStatus.Success, entry.Status);
        var text = JsonSerializer.Serialize(entry.Inputs) + entry.OutputSummary + JsonSerializer.Serialize(entry.Metadata.Details);
        Assert.Contains("stripe", text);
        Assert.Contains("api.stripe.com", text);
        Assert.Contains("network.credentialed_request", text);
        Assert.DoesNotContain(Value, text);
    }

    [Fact]
    public async Task Should_refuse_a_use_for_another_host_as_not_found_and_audit_the_refusal()
    {
        await EnsureSecretAsync("stripe");

        using var refused = await Secrets.ResolveAsync(Use("stripe", "evil.example.com", "s-host"), TestContext.Current.CancellationToken);
        using var absent = await Secrets.ResolveAsync(Use("no-such-secret", "api.stripe.com", "s-host"), TestContext.Current.CancellationToken);

        Assert.False(refused.Granted);
        Assert.Null(refused.Value);
        Assert.Equal("SecretNotFound", refused.Decision.AgentError!.ErrorType);
        Assert.Equal(SecretUseOutcome.HostNotAllowed, refused.Decision.Outcome);
        Assert.Equal("SecretNotFound", absent.Decision.AgentError!.ErrorType);
        var entries = await SecretUsesAsync("s-host");
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal(AuditStatus.Denied, e.Status));
        Assert.Contains(entries, e => e.OutputSummary.StartsWith("host_not_allowed", StringComparison.Ordinal));
        Assert.Contains(entries, e => e.OutputSummary.StartsWith("absent", StringComparison.Ordinal));
    }

    [Fact]
    public void Should_derive_one_stable_key_per_purpose()
    {
        Span<byte> backup1 = stackalloc byte[32];
        Span<byte> backup2 = stackalloc byte[32];
        Span<byte> other = stackalloc byte[32];

        Assert.True(Secrets.TryDeriveKey("backup", backup1));
        Assert.True(Secrets.TryDeriveKey("backup", backup2));
        Assert.True(Secrets.TryDeriveKey("state.export", other));

        Assert.True(backup1.SequenceEqual(backup2));
        Assert.False(backup1.SequenceEqual(other));
        Assert.Contains(backup1.ToArray(), b => b != 0);
        Assert.Throws<ArgumentException>(() => Secrets.TryDeriveKey("../Backup", new byte[32]));
    }

    [Fact]
    public async Task Should_fail_closed_while_locked_and_work_again_after_unlock_with_the_right_passphrase()
    {
        await EnsureSecretAsync("stripe");
        Span<byte> before = stackalloc byte[32];
        Assert.True(Secrets.TryDeriveKey("backup", before));
        var beforeCopy = before.ToArray();
        try
        {
            Assert.Equal(VaultLockState.Locked, (await Admin.LockAsync("cli:root", TestContext.Current.CancellationToken)).Value!.State);

            Assert.False(Secrets.IsUnlocked);
            using (var locked = await Secrets.ResolveAsync(Use("stripe", "api.stripe.com", "s-locked"), TestContext.Current.CancellationToken))
            {
                Assert.False(locked.Granted);
                Assert.Equal("VaultLocked", locked.Decision.AgentError!.ErrorType);
            }
            var derived = new byte[32];
            Assert.False(Secrets.TryDeriveKey("backup", derived));
            Assert.All(derived, b => Assert.Equal(0, b));
            Assert.Equal(AuditStatus.Denied, Assert.Single(await SecretUsesAsync("s-locked")).Status);

            var wrong = await Admin.UnlockAsync("not the passphrase at all".AsMemory(), "cli:root", TestContext.Current.CancellationToken);
            Assert.Equal("WrongPassphrase", wrong.Error!.Code);
            Assert.False(Secrets.IsUnlocked);
        }
        finally
        {
            var unlocked = await Admin.UnlockAsync(UnlockedVaultGateway.Passphrase.AsMemory(), "cli:root", TestContext.Current.CancellationToken);
            Assert.True(unlocked.IsOk, unlocked.Error?.Message);
        }
        var after = new byte[32];
        Assert.True(Secrets.TryDeriveKey("backup", after));
        Assert.Equal(beforeCopy, after);
        using var granted = await Secrets.ResolveAsync(Use("stripe", "api.stripe.com", "s-relocked"), TestContext.Current.CancellationToken);
        Assert.True(granted.Granted);
    }
}
