using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Audit;
using KruxOS.Audit;
using Xunit;
using static KruxOS.Actors.Audit.AuditCommands;
using static KruxOS.Actors.Audit.AuditReplies;

namespace KruxOS.Actors.Tests.Audit;

public sealed class AuditHostingSpecs : Akka.Hosting.TestKit.TestKit
{
    private readonly TempDir _dir = new();

    protected override void ConfigureAkka(AkkaConfigurationBuilder builder, IServiceProvider provider) =>
        builder.WithAuditWriter(new AuditOptions { Directory = _dir.Path });

    [Fact]
    public async Task Should_register_the_audit_writer_and_append_durably()
    {
        var ct = TestContext.Current.CancellationToken;
        var writer = await ActorRegistry.GetAsync<AuditWriter>(ct);
        var draft = Drafts.Call(1);

        var reply = await writer.Ask<AuditAppended>(r => new Append(draft, r), TimeSpan.FromSeconds(20), ct);

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
