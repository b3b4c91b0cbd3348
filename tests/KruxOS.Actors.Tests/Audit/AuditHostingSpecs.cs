using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Hosting;
using KruxOS.Audit;
using Microsoft.Extensions.DependencyInjection;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Tests.Audit;

public sealed class AuditHostingSpecs : Akka.Hosting.TestKit.TestKit
{
    private readonly TempDir _dir = new();

    // The production wiring: the writer is the gateway root's first child and registered as it is created.
    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithActors((system, _) => system.ActorOf(GatewayRootActor.Props(
            [AuditHostingExtensions.WriterChild(new AuditOptions { Directory = _dir.Path })],
            new HostingContext(system, provider.GetRequiredService<ActorRegistry>(), provider, new KruxOsSettings())), "gateway"));

    [Fact]
    public async Task Should_register_the_audit_writer_under_the_gateway_root_and_append_durably()
    {
        // arrange
        var ct = TestContext.Current.CancellationToken;
        // Polled, not ActorRegistry.GetAsync: a wait that begins at the instant the root registers the writer can miss the
        // registry's wake-up (it checks, then enlists) and never end.
        IActorRef writer = ActorRefs.Nobody;
        await AwaitConditionAsync(() => Task.FromResult(ActorRegistry.TryGet<AuditWriter>(out writer)), TimeSpan.FromSeconds(20), cancellationToken: ct);
        var draft = Drafts.Call(1);

        // act
        var reply = await writer.Ask<AuditAppended>(r => new Append(draft, r), TimeSpan.FromSeconds(20), ct);

        // assert
        Assert.Equal("/user/gateway/audit", writer.Path.ToStringWithoutAddress());
        Assert.Equal(draft.Id, reply.Id);
        Assert.Equal(reply.EntryHash, Assert.Single(Drafts.ReadAll(_dir.Path)).EntryHash);
        Assert.True(AuditVerifier.VerifyDirectory(_dir.Path).IsIntact);
    }

    protected override async Task AfterAllAsync()
    {
        await base.AfterAllAsync();
        _dir.Dispose();
    }
}
