using System.Text;
using System.Text.Json.Nodes;
using Akka.Actor;
using KruxOS.Actors.Vault;
using KruxOS.Core.Alerts;
using KruxOS.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace KruxOS.Gateway.Tests.Vault;

/// <summary>
/// <c>secrets.*</c> through a real gateway and the Node MCP SDK: listed without values, rotation requests reach the operator
/// (vault status and a <c>vault</c> system alert), unknown names are <c>SecretNotFound</c>, and a locked vault answers
/// <c>VaultLocked</c> on the MCP path.
/// </summary>
public sealed class SecretsEndToEndSpecs
{
    private const string Passphrase = "correct horse battery staple";
    private const string Value = "sk_live_e2e_value_0123456789abcdef";

    [Fact]
    public async Task Should_list_request_rotation_and_fail_closed_when_locked_over_mcp()
    {
        // arrange: an unlocked vault with one secret, an agent, and a listener for the vault's system alerts
        await using var gateway = await TestGateway.StartCustomizedAsync(b => b.Services.AddSingleton(VaultStartupPassphrase.Of(Passphrase, "test")));
        var admin = gateway.Services.GetRequiredService<VaultAdmin>();
        await VaultWait.UntilAsync(() => admin.LockState == VaultLockState.Unlocked, "the vault to unlock");
        var added = await admin.AddAsync("stripe", "api_key", ["network.credentialed_request"], ["api.stripe.com"], Encoding.UTF8.GetBytes(Value),
            "cli:root", TestContext.Current.CancellationToken);
        Assert.True(added.IsOk, added.Error?.Message);
        var alerts = new TaskCompletionSource<SystemAlertRaised>(TaskCreationOptions.RunContinuationsAsynchronously);
        var system = gateway.Services.GetRequiredService<ActorSystem>();
        var listener = system.ActorOf(Props.Create(() => new AlertListener(alerts)));
        system.EventStream.Subscribe(listener, typeof(SystemAlertRaised));
        var token = await gateway.CreateAgentAsync("keyuser");
        var url = gateway.McpHttp.ToString();

        // act
        var session = await NodeClients.RunAsync(token, "--transport", "http", "--url", url, "--list",
            "--call", "secrets__list", "{}",
            "--call", "secrets__rotate_request", """{"secret_name":"stripe","reason":"compromised"}""",
            "--call", "secrets__rotate_request", """{"secret_name":"no-such-secret"}""",
            "--call", "secrets__use", """{"secret_name":"stripe","capability":"network.credentialed_request"}""");

        // assert: listed (never the value), the request visible to the operator and alerted, unknown names not found
        Assert.True(session["connected"]!.GetValue<bool>(), session.ToJsonString());
        Assert.DoesNotContain(Value, session.ToJsonString());
        var tools = session["tools"]!.AsArray().Select(t => t!["name"]!.GetValue<string>()).ToList();
        Assert.Contains("secrets__list", tools);
        var results = session["results"]!.AsArray();
        var list = results[0]!["body"]!;
        Assert.False(results[0]!["isError"]!.GetValue<bool>(), results[0]!.ToJsonString());
        Assert.Equal(1, list["total"]!.GetValue<int>());
        Assert.Equal("stripe", list["secrets"]![0]!["name"]!.GetValue<string>());
        Assert.Equal("network.credentialed_request", list["secrets"]![0]!["allowed_capabilities"]![0]!.GetValue<string>());
        var request = results[1]!["body"]!;
        Assert.False(results[1]!["isError"]!.GetValue<bool>(), results[1]!.ToJsonString());
        Assert.Equal("submitted", request["status"]!.GetValue<string>());
        var requestId = request["request_id"]!.GetValue<string>();
        Assert.StartsWith("rr-", requestId);
        var attention = Assert.Single(admin.Status().NeedsAttention);
        Assert.Equal("stripe", attention.Name);
        Assert.Contains(requestId, attention.Reason);
        Assert.Contains("keyuser", attention.Reason);
        var alert = await alerts.Task.WaitAsync(TestTimeouts.Call);
        Assert.Equal("vault", alert.Component);
        Assert.Equal(AlertSeverity.Warning, alert.Severity);
        Assert.Contains(requestId, alert.Message);
        Assert.True(results[2]!["isError"]!.GetValue<bool>());
        Assert.Equal("SecretNotFound", results[2]!["body"]!["error"]!.GetValue<string>());
        Assert.False(results[3]!["isError"]!.GetValue<bool>(), results[3]!.ToJsonString());
        Assert.False(results[3]!["body"]!["used"]!.GetValue<bool>());

        // act: the operator locks the vault
        Assert.True((await admin.LockAsync("cli:root", TestContext.Current.CancellationToken)).IsOk);
        var locked = await NodeClients.RunAsync(token, "--transport", "http", "--url", url,
            "--call", "secrets__list", "{}",
            "--call", "secrets__rotate_request", """{"secret_name":"stripe"}""");

        // assert: everything that needs the vault fails closed with VaultLocked
        foreach (var r in locked["results"]!.AsArray())
        {
            Assert.True(r!["isError"]!.GetValue<bool>(), r.ToJsonString());
            Assert.Equal("VaultLocked", r["body"]!["error"]!.GetValue<string>());
        }
    }

    private sealed class AlertListener : ReceiveActor
    {
        public AlertListener(TaskCompletionSource<SystemAlertRaised> alerts) =>
            Receive<SystemAlertRaised>(a => alerts.TrySetResult(a));
    }
}
