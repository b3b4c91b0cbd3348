using System.Text.Json;
using KruxOS.Core.Vault;
using Xunit;

namespace KruxOS.Core.Tests.Vault;

/// <summary>Operator names and managed names (spec §10.2).</summary>
public sealed class SecretNameSpecs
{
    [Theory]
    [InlineData("stripe")]
    [InlineData("stripe-api-key")]
    [InlineData("STRIPE_KEY")]
    [InlineData("a.b.c")]
    [InlineData("0day")]
    public void Should_accept_operator_names(string name)
    {
        Assert.True(SecretName.TryParseOperatorName(name, out var n, out var error), error);
        Assert.False(n.IsManaged);
    }

    [Theory]
    [InlineData("model-provider:openai", "kruxos model add")]
    [InlineData("Model-Provider:openai", "kruxos model add")]
    [InlineData("user/token/laptop", "user-token")]
    [InlineData("service/gmail/oauth", "service")]
    [InlineData("service/anything", "service")]
    [InlineData("SERVICE/gmail/oauth", "service")]
    public void Should_refuse_managed_and_reserved_names_for_operators_with_the_tool_that_owns_them(string name, string hint)
    {
        Assert.False(SecretName.TryParseOperatorName(name, out _, out var error));
        Assert.Contains(hint, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-leading-dash")]
    [InlineData(".hidden")]
    [InlineData("has space")]
    [InlineData("slash/name")]
    [InlineData("colon:name")]
    [InlineData("naïve")]
    [InlineData("a\nb")]
    public void Should_refuse_malformed_operator_names(string name) => Assert.False(SecretName.TryParseOperatorName(name, out _, out _));

    [Fact]
    public void Should_refuse_names_longer_than_128_characters()
    {
        Assert.True(SecretName.TryParseOperatorName(new string('a', 128), out _, out _));
        Assert.False(SecretName.TryParseOperatorName(new string('a', 129), out _, out _));
    }

    [Theory]
    [InlineData("model-provider:openai", ManagedKind.ModelProvider)]
    [InlineData("user/token/claude-code", ManagedKind.UserToken)]
    [InlineData("service/gmail/oauth", ManagedKind.ServiceOAuth)]
    [InlineData("service/slack-2/oauth", ManagedKind.ServiceOAuth)]
    public void Should_parse_managed_names_for_lookups(string name, ManagedKind kind)
    {
        Assert.True(SecretName.TryParse(name, out var n, out var error), error);
        Assert.Equal(kind, n.Managed);
        Assert.True(ManagedSecretName.TryParse(name, out var m, out _));
        Assert.Equal(n, m.Name);
    }

    [Theory]
    [InlineData("service/gmail/token")]
    [InlineData("service//oauth")]
    [InlineData("service/Gmail/oauth")]
    [InlineData("user/token/")]
    [InlineData("model-provider:")]
    [InlineData("stripe")]
    public void Should_refuse_other_names_as_managed(string name) => Assert.False(ManagedSecretName.TryParse(name, out _, out _));

    [Fact]
    public void Should_build_managed_names_only_through_their_factories()
    {
        Assert.Equal("service/gmail/oauth", ManagedSecretName.ServiceOAuth("gmail").ToString());
        Assert.Equal("user/token/laptop", ManagedSecretName.UserToken("laptop").ToString());
        Assert.Equal("model-provider:anthropic", ManagedSecretName.ModelProvider("anthropic").ToString());
        Assert.Throws<ArgumentException>(() => ManagedSecretName.ServiceOAuth("../x"));
        // No public constructor takes text: the only ways in are the factories and TryParse.
        Assert.DoesNotContain(typeof(ManagedSecretName).GetConstructors(), c => c.GetParameters().Length > 0);
    }

    [Fact]
    public void Should_ignore_case_for_uniqueness_of_operator_names_only()
    {
        Assert.Equal(SecretName.Parse("Stripe").UniquenessKey, SecretName.Parse("stripe").UniquenessKey);
        Assert.NotEqual(SecretName.Parse("Stripe"), SecretName.Parse("stripe"));
    }

    [Fact]
    public void Should_refuse_a_managed_name_where_the_journal_says_managed_but_the_text_is_not()
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<ManagedSecretName>("\"stripe\""));
        Assert.Equal("service/gmail/oauth", JsonSerializer.Deserialize<ManagedSecretName>("\"service/gmail/oauth\"").ToString());
    }
}
