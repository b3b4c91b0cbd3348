using System.Text;
using Akka.Cluster;
using KruxOS.Actors.Hosting;
using KruxOS.Actors.Tests.Support;
using KruxOS.Actors.Vault;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Network;
using KruxOS.Core.Vault;
using KruxOS.Vault;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Actors.Tests.Vault;

/// <summary>
/// Two in-process nodes sharing one PostgreSQL journal: the vault is one entity (persistence id <c>vault</c>), so a secret
/// added through node A reaches node B as ciphertext; B resolves it only once B itself holds the key (its own unlock), and
/// is <c>VaultLocked</c> before that.
/// </summary>
public sealed class VaultClusterSpecs
{
    private const string Passphrase = "cluster vault passphrase";
    private const string Value = "sk_live_cluster_value_0123456789";

    [Fact]
    public async Task Should_resolve_on_node_b_a_secret_added_through_node_a_once_b_is_unlocked()
    {
        if (Postgres.ServerConnectionString is null)
            Assert.Skip("KRUXOS_TEST_POSTGRES is not set: no PostgreSQL server to share between the nodes");
        await using var pg = await Postgres.CreateAsync();

        // arrange: node A starts with the passphrase (initialising the vault), node B without it
        using var dir = new TempDir();
        await using var nodes = await TwoNodeCluster.StartAsync(dir.Path, PersistenceProvider.PostgreSql, pg.ConnectionString,
            services: (name, s) => { if (name == "a") s.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test")); });
        var (a, b) = (nodes.A, nodes.B);
        var adminA = a.Services.GetRequiredService<VaultAdmin>();
        var adminB = b.Services.GetRequiredService<VaultAdmin>();
        await Eventually(() => adminA.LockState == VaultLockState.Unlocked);

        // act: add through node A
        var added = await adminA.AddAsync("shared", "api_key", ["network.credentialed_request"], ["api.example.com"], Encoding.UTF8.GetBytes(Value),
            "cli:root", TestContext.Current.CancellationToken);
        Assert.True(added.IsOk, added.Error?.Message);
        await Eventually(() => b.Services.GetRequiredService<VaultDirectory>().Current.Records.ContainsKey("shared"));

        // assert: B knows the record but not the key
        Assert.Equal(VaultLockState.Locked, adminB.LockState);
        var secretsB = b.Services.GetRequiredService<ISecretAccess>();
        var use = new SecretUseContext(AgentName.Parse("clusterer"), "s-cluster",
            new SecretUseRequest("shared", CapabilityName.Parse("network.credentialed_request"), new SecretDestination("api.example.com", HostKind.Dns, true, "ok")));
        using (var locked = await secretsB.ResolveAsync(use, TestContext.Current.CancellationToken))
            Assert.Equal("VaultLocked", locked.Decision.AgentError!.ErrorType);

        // act: B unlocks with its own copy of the passphrase
        var unlocked = await adminB.UnlockAsync(Passphrase.AsMemory(), "cli:root", TestContext.Current.CancellationToken);
        Assert.True(unlocked.IsOk, unlocked.Error?.Message);

        // assert: B resolves the value A stored, and both nodes derive the same purpose key
        using (var granted = await secretsB.ResolveAsync(use, TestContext.Current.CancellationToken))
        {
            Assert.True(granted.Granted, granted.Decision.Reason);
            Assert.Equal(Value, granted.Value!.Use(0, (bytes, _) => Encoding.UTF8.GetString(bytes)));
        }
        var keyA = new byte[32];
        var keyB = new byte[32];
        Assert.True(a.Services.GetRequiredService<ISecretAccess>().TryDeriveKey("backup", keyA));
        Assert.True(secretsB.TryDeriveKey("backup", keyB));
        Assert.Equal(keyA, keyB);
    }

    private static async Task Eventually(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Cluster;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not met in time");
            await Task.Delay(100);
        }
    }
}
