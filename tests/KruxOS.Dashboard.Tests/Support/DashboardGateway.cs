using KruxOS.Testing;
using Xunit;

namespace KruxOS.Dashboard.Tests.Support;

/// <summary>
/// One gateway per spec class: agent <c>bot</c> whose policy holds <c>system.time</c> for approval, an operator token
/// (<c>ops</c>) and a client token (<c>laptop</c>).
/// </summary>
public class DashboardGateway : IAsyncLifetime
{
    public const string Agent = "bot";

    /// <summary>The agent's policy file; subclasses hold other capabilities.</summary>
    protected virtual string Policy => TestPolicies.HoldSystemTime;

    public TestGateway Gateway { get; private set; } = null!;
    public string AgentToken { get; private set; } = "";
    public string OperatorToken { get; private set; } = "";
    public string ClientToken { get; private set; } = "";

    public virtual async ValueTask InitializeAsync()
    {
        Gateway = await TestGateway.StartAsync(TestPolicies.DataDirWithAgentPolicy("kruxos-dash-", Agent, Policy));
        AgentToken = await Gateway.CreateAgentAsync(Agent);
        OperatorToken = await DashboardClient.UserTokenAsync(Gateway, "ops");
        ClientToken = await DashboardClient.UserTokenAsync(Gateway, "laptop", "client");
    }

    public virtual async ValueTask DisposeAsync() => await Gateway.DisposeAsync();

    /// <summary>A client signed in as the operator.</summary>
    public async Task<DashboardClient> SignedInAsync()
    {
        var client = new DashboardClient(Gateway);
        using var r = await client.SignInAsync(OperatorToken);
        Assert.Equal(System.Net.HttpStatusCode.Redirect, r.StatusCode);
        return client;
    }
}
