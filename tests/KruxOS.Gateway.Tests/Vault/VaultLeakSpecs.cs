using System.Text;
using KruxOS.Actors.Vault;
using KruxOS.Audit;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Network;
using KruxOS.Core.Vault;
using KruxOS.Testing;
using KruxOS.Vault;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace KruxOS.Gateway.Tests.Vault;

/// <summary>
/// Adversarial: someone who can read the gateway's data directory (its journal, snapshots, WAL files, audit log and index),
/// its logs, or what the operator's CLI printed looks for a secret after it was added, used, refused, rotated and revoked
/// through the real CLI and the node's <see cref="ISecretAccess"/>. Neither value nor the passphrase may appear — raw, in
/// base64 or in hex. Every path read is under the spec's own temporary data directory.
/// </summary>
public sealed class VaultLeakSpecs
{
    private const string Passphrase = "leak-spec passphrase 7f3a9c";

    private static readonly string First = "sk_live_LEAKPROBE_" + Guid.NewGuid().ToString("N");
    private static readonly string Second = "sk_live_LEAKPROBE_" + Guid.NewGuid().ToString("N");

    private static IEnumerable<(string Form, byte[] Bytes)> Forms(string secret)
    {
        var raw = Encoding.UTF8.GetBytes(secret);
        yield return ("raw", raw);
        // Base64 of any text that contains the value (a serialised byte array, a JSON document): whole 3-byte groups of the
        // value at each of the three alignments appear in the encoding, whatever precedes or follows the value.
        for (var a = 0; a < 3; a++)
        {
            var groups = raw.AsSpan(a, (raw.Length - a) / 3 * 3).ToArray();
            var b64 = Convert.ToBase64String(groups);
            yield return ($"base64@{a}", Encoding.ASCII.GetBytes(b64));
            yield return ($"base64url@{a}", Encoding.ASCII.GetBytes(b64.Replace('+', '-').Replace('/', '_')));
        }
        yield return ("hex", Encoding.ASCII.GetBytes(Convert.ToHexStringLower(raw)));
        yield return ("HEX", Encoding.ASCII.GetBytes(Convert.ToHexString(raw)));
        yield return ("utf16", Encoding.Unicode.GetBytes(secret));
    }

    private static IEnumerable<string> Findings(string where, byte[] haystack, params string[] secrets)
    {
        foreach (var secret in secrets)
            foreach (var (form, needle) in Forms(secret))
                if (haystack.AsSpan().IndexOf(needle) >= 0)
                    yield return $"{where} holds a secret ({form})";
    }

    private static Task<ProcessResult> Cli(TestGateway gateway, string? stdin, params string[] args) =>
        ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, .. args],
            new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = gateway.ControlSocket }, stdin: stdin);

    [Fact]
    public async Task Should_leave_no_value_or_passphrase_in_the_data_directory_logs_audit_or_cli_output()
    {
        // arrange: a gateway whose every log line is kept
        var logs = new CapturedLogs();
        await using (var gateway = await TestGateway.StartCustomizedAsync(b =>
                     {
                         b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test"));
                         b.Logging.AddProvider(logs);
                         b.Logging.SetMinimumLevel(LogLevel.Trace);
                     }))
        {
            var admin = gateway.Services.GetRequiredService<VaultAdmin>();
            await VaultWait.UntilAsync(() => admin.LockState == VaultLockState.Unlocked, "the vault to unlock");
            var secrets = gateway.Services.GetRequiredService<ISecretAccess>();
            var outputs = new StringBuilder();

            // act: add through the CLI (value on stdin), use it (granted and refused), rotate, use again, revoke
            var add = await Cli(gateway, First + "\n", "vault", "add", "--name", "leaky", "--type", "api_key",
                "--allowed-capabilities", "network.credentialed_request", "--allowed-hosts", "api.example.com");
            outputs.Append(add.StdOut).Append(add.StdErr);
            Assert.True(add.ExitCode == 0, add.StdErr);
            var use = new SecretUseContext(AgentName.Parse("leaker"), "s-leak",
                new SecretUseRequest("leaky", CapabilityName.Parse("network.credentialed_request"), new SecretDestination("api.example.com", HostKind.Dns, true, "ok")));
            var refusedUse = use with { Request = use.Request with { Destination = new SecretDestination("evil.example.net", HostKind.Dns, true, "ok") } };
            // (outcomes asserted last: the leak assertions come first, whatever else went wrong)
            bool firstGranted, refusedGranted, secondGranted;
            string? secondSeen;
            using (var r = await secrets.ResolveAsync(use, TestContext.Current.CancellationToken)) firstGranted = r.Granted;
            using (var r = await secrets.ResolveAsync(refusedUse, TestContext.Current.CancellationToken)) refusedGranted = r.Granted;
            var rotate = await Cli(gateway, Second + "\n", "vault", "rotate", "leaky");
            outputs.Append(rotate.StdOut).Append(rotate.StdErr);
            Assert.True(rotate.ExitCode == 0, rotate.StdErr);
            using (var r = await secrets.ResolveAsync(use, TestContext.Current.CancellationToken))
            {
                secondGranted = r.Granted;
                secondSeen = r.Value?.Use(0, (bytes, _) => Encoding.UTF8.GetString(bytes));
            }
            foreach (var args in new[] { new[] { "vault", "list", "--include-revoked" }, ["vault", "list", "--json"], ["vault", "status", "--json"], ["status", "--json"] })
            {
                var shown = await Cli(gateway, null, args);
                outputs.Append(shown.StdOut).Append(shown.StdErr);
            }
            var revoke = await Cli(gateway, null, "vault", "revoke", "leaky");
            outputs.Append(revoke.StdOut).Append(revoke.StdErr);
            var audit = await new AuditReader(Path.Combine(gateway.DataDir, "audit")).QueryAsync(new AuditQuery { Capability = "secrets.use" },
                TestContext.Current.CancellationToken);
            Assert.Equal(3, audit.Total);

            // assert: what an operator saw
            Assert.Empty(Findings("CLI output", Encoding.UTF8.GetBytes(outputs.ToString()), First, Second, Passphrase));
            // Stopped, not disposed: disposing deletes the data directory, which is what is searched next.
            await gateway.App.StopAsync(TestContext.Current.CancellationToken).WaitAsync(TestTimeouts.Process, TestContext.Current.CancellationToken);
            // The journal's pooled connections outlive the stop (the process would exit here): closed now, so no file changes
            // while it is read (the audit log is closed by the stop itself; AuditShutdownSpecs).
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

            // assert: every file the gateway left behind, and every log line
            var findings = new List<string>();
            var nameSeen = false;
            foreach (var file in Directory.EnumerateFiles(gateway.DataDir, "*", SearchOption.AllDirectories))
            {
                if (new FileInfo(file).LinkTarget is not null) continue;
                var bytes = await File.ReadAllBytesAsync(file, TestContext.Current.CancellationToken);
                findings.AddRange(Findings(Path.GetRelativePath(gateway.DataDir, file), bytes, First, Second, Passphrase));
                nameSeen |= Findings(file, bytes, "leaky").Any();
            }
            findings.AddRange(Findings("the logs", Encoding.UTF8.GetBytes(logs.Text), First, Second, Passphrase));
            Assert.Empty(findings);
            // The search reads what the vault stored: the secret's name (metadata, not secret) is there to be found.
            Assert.True(nameSeen, "the secret's name was not found in the data directory: the search did not read the vault's journal");
            Assert.True(firstGranted);
            Assert.False(refusedGranted);
            Assert.True(secondGranted);
            Assert.Equal(Second, secondSeen);
        }
    }

    [Theory]
    [InlineData("--value")]
    [InlineData("--passphrase")]
    [InlineData("--value=")]
    public async Task Should_refuse_a_secret_on_the_command_line_without_printing_it(string flag)
    {
        // act: a value where only stdin is accepted, as a flag and as a stray word
        var secret = "sk_live_ARGV_" + Guid.NewGuid().ToString("N");
        string[] args = flag.EndsWith('=') ? ["vault", "add", "--name", "x", "--type", "api_key", flag + secret] : ["vault", "add", "--name", "x", "--type", "api_key", flag, secret];
        var asFlag = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, .. args], new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = "/nonexistent/control.sock" });
        var stray = await ProcessRunner.RunAsync("dotnet", [ProcessRunner.CliDll, "vault", "unlock", secret],
            new Dictionary<string, string> { ["KRUXOS_CONTROL_SOCKET"] = "/nonexistent/control.sock" });

        // assert: usage errors that never repeat the secret
        Assert.Equal(2, asFlag.ExitCode);
        Assert.Equal(2, stray.ExitCode);
        Assert.DoesNotContain(secret, asFlag.StdOut + asFlag.StdErr);
        Assert.DoesNotContain(secret, stray.StdOut + stray.StdErr);
        Assert.Contains("standard input", asFlag.StdErr);
    }
}
