using Akka.Actor;
using Akka.Cluster.Sharding;
using KruxOS.Actors.Health;
using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Tests.Hosting.TestArea;

/// <summary>
/// A test-only stateful area, hosted the way a new area (state, comms, scheduler, vault) is: an entity type with its own
/// extractor, a node child that depends on the entity's region by its typed key, a service and a health check; one
/// extension, no edit to the composition root.
/// </summary>
public static class TestAreaHostingExtensions
{
    public const string TypeName = "test-echo";
    public const string LocalName = "test-echo";
    public const string ClientName = "test-echo-client";
    public const string CheckName = "test-echo";
    public const int EntityOrder = GatewayAreas.FirstFreeOrder;

    /// <summary>Registers the area; a <paramref name="clientOrder"/> lower than <see cref="EntityOrder"/> puts the client before its dependency.</summary>
    public static IServiceCollection AddTestArea(this IServiceCollection services, int clientOrder = EntityOrder + 10)
    {
        services.AddSingleton(new EchoGreeting("echo"));
        services.AddEntity<EchoRegion>(TypeName, LocalName, EntityOrder, new EchoExtractor(),
            (entityId, ctx) => EchoEntity.Props(entityId, ctx.Services.GetRequiredService<EchoGreeting>()));
        services.AddNodeChild<EchoClient>(ClientName, clientOrder, ctx => EchoClient.Props(ctx.Get<EchoRegion>()));
        services.AddHealthCheck(CheckName, sp =>
        {
            var greeting = sp.GetRequiredService<EchoGreeting>();
            return _ => ValueTask.FromResult(HealthCheckResult.Healthy($"{greeting.Word} area hosted"));
        });
        return services;
    }
}

/// <summary>Registry key of the echo entities' region (or single-node parent).</summary>
public sealed class EchoRegion;

/// <summary>A service the entity factory reads from the hosting context.</summary>
public sealed record EchoGreeting(string Word);

public sealed record Echo(string EntityId, string Text);

/// <summary>An entity's answer: which node and path it lives at, and how many echoes this incarnation has answered.</summary>
public sealed record Echoed(string EntityId, string Text, string Node, string Path, int Count);

/// <summary>Ask the client to send <see cref="Echo"/> through the region it was given; it forwards the reply.</summary>
public sealed record Relay(string EntityId, string Text);

public sealed class EchoExtractor() : HashCodeMessageExtractor(10)
{
    public override string? EntityId(object message) => message is Echo e ? e.EntityId : null;
}

public sealed class EchoEntity : ReceiveActor
{
    private int _count;

    public EchoEntity(string entityId, EchoGreeting greeting)
    {
        var node = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress.ToString();
        Receive<Echo>(e => Sender.Tell(new Echoed(entityId, $"{greeting.Word}: {e.Text}", node, Self.Path.ToStringWithoutAddress(), ++_count)));
    }

    public static Props Props(string entityId, EchoGreeting greeting) => Akka.Actor.Props.Create(() => new EchoEntity(entityId, greeting));
}

public sealed class EchoClient : ReceiveActor
{
    public EchoClient(IActorRef region) => Receive<Relay>(r => region.Forward(new Echo(r.EntityId, r.Text)));

    public static Props Props(IActorRef region) => Akka.Actor.Props.Create(() => new EchoClient(region));
}
