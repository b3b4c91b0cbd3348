using System.Text;
using KruxOS.Core.Agents;
using KruxOS.Core.Audit;
using Xunit;

namespace KruxOS.Core.Tests.Audit;

/// <summary>What <see cref="AuditChain.Seal"/> redacts before an entry is encoded, beyond the inputs.</summary>
public sealed class AuditChainSanitizeSpecs
{
    private const string AgentToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    private const string UserToken = "krx_user_Zm9vYmFyYmF6cXV4";

    [Fact]
    public void Should_redact_tokens_a_client_put_in_its_clientInfo_name_and_version_and_in_the_actor_name()
    {
        // arrange: a client that sends a token as its clientInfo.name and version (client-controlled text)
        var draft = AuditTestData.Entry(1) with
        {
            Actor = new Principal(PrincipalKind.User, $"ops-{UserToken}"),
            Client = new AuditClient($"evil {AgentToken}", $"1.0+{UserToken}"),
        };

        // act
        var sealedRecord = AuditChain.FromGenesis().Seal(draft);

        // assert: neither the sealed entry nor the bytes on disk hold the tokens
        Assert.Equal("evil [REDACTED:token]", sealedRecord.Entry.Client!.Name);
        Assert.Equal("1.0+[REDACTED:token]", sealedRecord.Entry.Client.Version);
        Assert.Equal("ops-[REDACTED:token]", sealedRecord.Entry.Actor.Name);
        var bytes = Encoding.UTF8.GetString(sealedRecord.Frame.Span);
        Assert.DoesNotContain(AgentToken, bytes, StringComparison.Ordinal);
        Assert.DoesNotContain(UserToken, bytes, StringComparison.Ordinal);
        Assert.Equal(sealedRecord.Entry.Client, AuditCbor.DecodeStored(sealedRecord.Payload).Client);
    }

    [Fact]
    public void Should_keep_client_and_actor_without_tokens_as_they_are()
    {
        var draft = AuditTestData.Entry(2);

        var sealedRecord = AuditChain.FromGenesis().Seal(draft);

        Assert.Same(draft.Client, sealedRecord.Entry.Client);
        Assert.Same(draft.Actor, sealedRecord.Entry.Actor);
    }
}
