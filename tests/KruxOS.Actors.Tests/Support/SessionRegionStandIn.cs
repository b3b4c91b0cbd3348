using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Agents;

namespace KruxOS.Actors.Tests.Support;

/// <summary>The session region, stood in for by a probe: a <see cref="KruxOS.Actors.Calls.CallDispatcher"/> resolves it like the real one.</summary>
internal sealed class SessionRegionStandIn(IActorRef region) : IRequiredActor<AgentSessionRegion>
{
    public IActorRef ActorRef => region;

    public Task<IActorRef> GetAsync(CancellationToken cancel = default) => Task.FromResult(region);
}
