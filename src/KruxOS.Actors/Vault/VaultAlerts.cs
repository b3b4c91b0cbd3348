using System.Text.Json.Nodes;
using Akka.Actor;
using KruxOS.Core.Alerts;
using KruxOS.Core.State;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Vault;

/// <summary>
/// Publishes the vault's <see cref="SystemAlertRaised"/> on this node's event stream (the alerts area turns them into
/// alerts). The ActorSystem is looked up when an alert is raised, not when the service is built (capability handlers are
/// built before the actor system starts). Never a value in an alert.
/// </summary>
public sealed class VaultAlerts(IServiceProvider services)
{
    /// <summary>The component name of the vault's alerts.</summary>
    public const string Component = "vault";

    /// <summary>An agent asked for a rotation.</summary>
    public void RotationRequested(string secret, string agent, string reason, string requestId)
    {
        var context = new JsonObject { ["secret_name"] = secret, ["agent"] = agent, ["reason"] = reason, ["request_id"] = requestId };
        Publish(new SystemAlertRaised(Component, AlertSeverity.Warning,
            $"Agent '{agent}' asks for secret '{secret}' to be rotated ({reason}); request {requestId}. Rotate it with 'kruxos vault rotate {secret}'.",
            StoredJson.Parse(context.ToJsonString())));
    }

    private void Publish(SystemAlertRaised alert)
    {
        if (services.GetService<ActorSystem>() is { } system) system.EventStream.Publish(alert);
    }
}
