using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using KruxOS.Core.Control;
using KruxOS.Testing;
using Microsoft.Extensions.Logging;
using Xunit;

namespace KruxOS.Dashboard.Tests.Support;

/// <summary>
/// A gateway for the secrets, alerts and pause specs: agent <c>bot</c>, an operator (<c>ops</c>) and a client (<c>laptop</c>)
/// token, an initialised and unlocked vault, and every log line the gateway writes kept in <see cref="Logs"/> (so a spec
/// can prove a value never reached the log).
/// </summary>
public class OperationsGateway : IAsyncLifetime
{
    public const string Agent = "bot";
    public const string Passphrase = "correct horse battery staple dashboard";

    public TestGateway Gateway { get; private set; } = null!;
    public string AgentToken { get; private set; } = "";
    public string OperatorToken { get; private set; } = "";
    public string ClientToken { get; private set; } = "";
    public CapturedLogs Logs { get; } = new();

    public virtual async ValueTask InitializeAsync()
    {
        Gateway = await TestGateway.StartCustomizedAsync(b => b.Logging.SetMinimumLevel(LogLevel.Trace).AddProvider(Logs),
            TestPolicies.DataDirWithAgentPolicy("kruxos-dash-ops-", Agent));
        AgentToken = await Gateway.CreateAgentAsync(Agent);
        OperatorToken = await DashboardClient.UserTokenAsync(Gateway, "ops");
        ClientToken = await DashboardClient.UserTokenAsync(Gateway, "laptop", "client");
        var init = await Gateway.ControlAsync(ControlProtocol.Methods.VaultInit, new JsonObject { ["passphrase"] = Passphrase });
        Assert.Equal("unlocked", init["state"]?.GetValue<string>());
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

    /// <summary>Every log line (formatted message and exception) the gateway wrote, at every level.</summary>
    public sealed class CapturedLogs : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> _lines = new();

        public IReadOnlyCollection<string> Lines => _lines;

        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _lines);

        public void Dispose() { }

        private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => true;
            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue($"{category} {logLevel}: {formatter(state, exception)} {state} {exception}");
        }
    }
}
