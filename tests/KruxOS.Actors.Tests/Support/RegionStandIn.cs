using Akka.Actor;
using Akka.Hosting;

namespace KruxOS.Actors.Tests.Support;

/// <summary>A region (session, inbox, channel…) stood in for by a probe: what takes it resolves it like the real one.</summary>
internal sealed class RegionStandIn<T>(IActorRef region) : IRequiredActor<T>
{
    public IActorRef ActorRef => region;

    public Task<IActorRef> GetAsync(CancellationToken cancel = default) => Task.FromResult(region);
}
