using System.Text.Json.Nodes;
using KruxOS.Gateway.Tests.Support;
using KruxOS.Testing;
using Xunit;

namespace KruxOS.Gateway.Tests.Vault;

/// <summary>
/// The vault across kill -9 of a real gateway process: records survive; a restart without the passphrase starts locked
/// (and unlocks with <c>kruxos vault unlock</c> on stdin); a restart with <c>KRUXOS_VAULT_PASSPHRASE</c> starts unlocked.
/// </summary>
public sealed class VaultRestartSpecs
{
    private const string Passphrase = "restart spec passphrase";

    private static async Task<ProcessResult> Cli(GatewayOsProcess gateway, string? stdin, params string[] args) =>
        await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, .. args],
            new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = gateway.ControlSocket }, stdin: stdin);

    private static async Task<JsonNode> StatusAsync(GatewayOsProcess gateway)
    {
        var r = await Cli(gateway, null, "vault", "status", "--json");
        Assert.True(r.ExitCode == 0, r.StdErr);
        return JsonNode.Parse(r.StdOut)!;
    }

    private static async Task<string> StateEventuallyAsync(GatewayOsProcess gateway, string wanted)
    {
        var deadline = DateTime.UtcNow + TestTimeouts.Process;
        string state;
        do
        {
            state = (await StatusAsync(gateway))["state"]!.GetValue<string>();
            if (state == wanted) return state;
            await Task.Delay(200);
        }
        while (DateTime.UtcNow < deadline);
        return state;
    }

    [Fact]
    public async Task Should_keep_secrets_across_kill_9_and_start_locked_unless_the_passphrase_is_given()
    {
        var dataDir = Path.Combine(Directory.CreateTempSubdirectory("kruxos-vault-restart-").FullName, "data");
        var withPassphrase = new Dictionary<string, string> { ["KRUXOS_VAULT_PASSPHRASE"] = Passphrase };
        try
        {
            // arrange: first start initialises the vault from the environment; a secret is added
            await using (var first = await GatewayOsProcess.StartAsync(dataDir, withPassphrase))
            {
                Assert.Equal("unlocked", await StateEventuallyAsync(first, "unlocked"));
                var add = await Cli(first, "sk_restart_value_0123456789\n", "vault", "add", "--name", "durable", "--type", "api_key",
                    "--allowed-capabilities", "network.credentialed_request", "--allowed-hosts", "api.example.com");
                Assert.True(add.ExitCode == 0, add.StdErr);
                first.KillHard(processTree: true); // SIGKILL
            }

            // act: restart without the passphrase
            await using (var second = await GatewayOsProcess.StartAsync(dataDir))
            {
                // assert: locked once the vault's journal is recovered (until then it says "loading", never a guess), the record
                // is still there, and it unlocks with the passphrase on stdin
                Assert.Equal("locked", await StateEventuallyAsync(second, "locked"));
                var list = await Cli(second, null, "vault", "list", "--json");
                Assert.Equal("durable", JsonNode.Parse(list.StdOut)!["secrets"]![0]!["name"]!.GetValue<string>());
                var wrong = await Cli(second, "not the passphrase\n", "vault", "unlock");
                Assert.Equal(1, wrong.ExitCode);
                Assert.Equal("locked", (await StatusAsync(second))["state"]!.GetValue<string>());
                var unlock = await Cli(second, Passphrase + "\n", "vault", "unlock");
                Assert.True(unlock.ExitCode == 0, unlock.StdErr);
                Assert.Equal("unlocked", (await StatusAsync(second))["state"]!.GetValue<string>());
                second.KillHard(processTree: true);
            }

            // act: restart with the passphrase
            await using var third = await GatewayOsProcess.StartAsync(dataDir, withPassphrase);

            // assert: unlocked at start-up, record intact, and the passphrase is not in what the gateway printed
            Assert.Equal("unlocked", await StateEventuallyAsync(third, "unlocked"));
            Assert.Equal(1, (await StatusAsync(third))["secrets"]!.GetValue<int>());
            Assert.DoesNotContain(Passphrase, third.Log());
        }
        finally
        {
            try { Directory.Delete(Path.GetDirectoryName(dataDir)!, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
