using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Hosting;
using KruxOS.Actors.Agents;
using KruxOS.Actors.Sharding;
using KruxOS.Actors.Tests.Support;
using KruxOS.Core.Agents;
using Xunit;

namespace KruxOS.Actors.Tests.Sharding;

public sealed class GenericChildPerEntityParentSpecs(ITestOutputHelper output) : Akka.Hosting.TestKit.TestKit(output: output)
{
    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) { }

    private sealed record Ping(AgentName Agent) : IWithAgentName;

    private sealed record PassivateMe(AgentName Agent) : IWithAgentName;

    private sealed record Stopping(string Name);

    private sealed class StopNow
    {
        public static readonly StopNow Instance = new();
    }

    private sealed class Entity : ReceiveActor
    {
        private int _seen;
        private IActorRef _observer = ActorRefs.Nobody;

        public Entity()
        {
            Receive<Ping>(_ => Sender.Tell((Self.Path.Name, ++_seen)));
            Receive<PassivateMe>(_ =>
            {
                _observer = Sender;
                Context.Parent.Tell(new Passivate(StopNow.Instance));
            });
            Receive<StopNow>(_ =>
            {
                // the parent has started passivating us: from now on it must buffer our messages
                _observer.Tell(new Stopping(Self.Path.Name));
                Context.Stop(Self);
            });
        }
    }

    [Fact]
    public async Task Should_route_every_message_for_one_agent_to_one_entity_found_by_the_sharding_extractor()
    {
        var parent = Sys.ActorOf(GenericChildPerEntityParent.Props(new AgentSessionMessageExtractor(), _ => Props.Create(() => new Entity())));
        parent.Tell(new Ping(AgentName.Parse("a1")));
        parent.Tell(new Ping(AgentName.Parse("a1")));
        parent.Tell(new Ping(AgentName.Parse("b2")));
        var replies = new[]
        {
            await ExpectMsgAsync<(string, int)>(TestTimeouts.Reply), await ExpectMsgAsync<(string, int)>(TestTimeouts.Reply),
            await ExpectMsgAsync<(string, int)>(TestTimeouts.Reply),
        };
        // replies of different entities may interleave; within one entity the order is kept
        Assert.Equal([("a1", 1), ("a1", 2)], replies.Where(r => r.Item1 == "a1").ToArray());
        Assert.Equal([("b2", 1)], replies.Where(r => r.Item1 == "b2").ToArray());
    }

    [Fact]
    public async Task Should_deliver_messages_sent_during_passivation_to_a_fresh_entity()
    {
        var parent = Sys.ActorOf(GenericChildPerEntityParent.Props(new AgentSessionMessageExtractor(), _ => Props.Create(() => new Entity())));
        var a = AgentName.Parse("a1");
        parent.Tell(new Ping(a));
        Assert.Equal(("a1", 1), await ExpectMsgAsync<(string, int)>(TestTimeouts.Reply));
        parent.Tell(new PassivateMe(a));
        await ExpectMsgAsync<Stopping>(TestTimeouts.Reply);
        parent.Tell(new Ping(a));
        // the message was not lost: it reached a new incarnation whose counter started again
        Assert.Equal(("a1", 1), await ExpectMsgAsync<(string, int)>(TestTimeouts.Reply));
    }

    [Fact]
    public void Should_return_null_for_messages_that_belong_to_no_agent()
    {
        var extractor = new AgentSessionMessageExtractor();
        Assert.Null(extractor.EntityId("not routed"));
        Assert.Equal("a1", extractor.EntityId(new Ping(AgentName.Parse("a1"))));
    }
}
