using System.Collections.Immutable;
using System.Text;
using System.Text.Json;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Network;
using KruxOS.Core.Vault;
using Xunit;
using static KruxOS.Core.Vault.VaultCommands;

namespace KruxOS.Vault.Tests;

/// <summary>
/// The whole write and use path without an actor: prepare (seal) → ProcessCommand → Apply → resolve (decide, open).
/// Includes the journal attacks that associated data defends against.
/// </summary>
public sealed class SecretResolutionSpecs : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 7, 10, 0, 0, TimeSpan.Zero);
    private static readonly CapabilityName Credentialed = CapabilityName.Parse("network.credentialed_request");
    private readonly VaultKey _key;
    private VaultState _state;

    public SecretResolutionSpecs()
    {
        _key = VaultKey.FromBytes(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32));
        var header = new VaultHeader(VaultKdf.Default(new VaultBytes(new byte[16])), VaultFormat.Cipher,
            _key.Seal(VaultFormat.VerifierPlaintext, VaultFormat.VerifierAssociatedData), T0);
        _state = Apply(VaultState.Empty, new InitializeVault(header));
    }

    public void Dispose() => _key.Dispose();

    private static VaultState Apply(VaultState state, IVaultCommand command)
    {
        var (result, events) = state.ProcessCommand(command);
        Assert.True(result.IsOk, result.Message);
        return state.ApplyAll(events);
    }

    private void Add(string name, string value, string[] caps, string[] hosts)
    {
        var prepared = VaultOperations.Add(_state, _key, name, "api_key", caps, hosts, Encoding.UTF8.GetBytes(value), T0);
        Assert.True(prepared.IsReady, prepared.Refusal?.Message);
        _state = Apply(_state, prepared.Command!);
    }

    private static SecretUseRequest Request(string name, string host = "api.stripe.com") =>
        new(name, Credentialed, new SecretDestination(host, HostKind.Dns, true, "allowed by org.yaml"));

    private static string Read(SecretValue value) => value.Use(0, static (bytes, _) => Encoding.UTF8.GetString(bytes));

    [Fact]
    public void Should_add_and_then_use_a_secret_for_an_allowed_capability_and_host()
    {
        Add("stripe", "sk_live_0123456789abcdef", ["network.credentialed_request"], ["api.stripe.com"]);
        using var r = SecretResolver.Resolve(_state, _key, Request("stripe"));
        Assert.True(r.Granted, r.Decision.Reason);
        Assert.Equal("sk_live_0123456789abcdef", Read(r.Value!));
        Assert.Equal(new SecretUseAudit("network.credentialed_request", "stripe", "api.stripe.com", "granted", true, r.Decision.Reason), r.Audit);
    }

    [Fact]
    public void Should_refuse_while_locked_and_after_a_lock()
    {
        Add("stripe", "sk_live_0123456789abcdef", ["network.credentialed_request"], ["api.stripe.com"]);
        using (var locked = SecretResolver.Resolve(_state, null, Request("stripe")))
        {
            Assert.False(locked.Granted);
            Assert.Equal("VaultLocked", locked.Decision.AgentError!.ErrorType);
        }
        _key.Dispose();
        using var after = SecretResolver.Resolve(_state, _key, Request("stripe"));
        Assert.Equal(SecretUseOutcome.VaultLocked, after.Decision.Outcome);
    }

    [Fact]
    public void Should_rotate_under_a_new_nonce_and_version_so_the_old_ciphertext_no_longer_opens_as_the_record()
    {
        Add("stripe", "sk_live_OLD_0123456789", ["network.credentialed_request"], ["api.stripe.com"]);
        var before = _state.Find(SecretName.Parse("stripe"))!;
        var prepared = VaultOperations.Rotate(_state, _key, "stripe", "sk_live_NEW_0123456789"u8, T0.AddDays(1));
        Assert.True(prepared.IsReady, prepared.Refusal?.Message);
        _state = Apply(_state, prepared.Command!);
        var after = _state.Find(SecretName.Parse("stripe"))!;
        Assert.Equal(2, after.Version);
        Assert.NotEqual(before.Value.Nonce, after.Value.Nonce);
        using (var r = SecretResolver.Resolve(_state, _key, Request("stripe")))
            Assert.Equal("sk_live_NEW_0123456789", Read(r.Value!));

        // Replaying the old ciphertext into the record (a rollback in the journal) fails: it was sealed as version 1.
        _state = _state with { Records = _state.Records.SetItem("stripe", after with { Value = before.Value }) };
        using var rollback = SecretResolver.Resolve(_state, _key, Request("stripe"));
        Assert.Equal(SecretUseOutcome.IntegrityFailure, rollback.Decision.Outcome);
    }

    // Adversarial: someone with write access to the journal (a shared PostgreSQL) moves the ciphertext of a powerful
    // secret into a record whose scope allows their host. Seen failing (the value opened) with the record's
    // associated data replaced by an empty span in SecretResolver.
    [Fact]
    public void Should_refuse_a_ciphertext_moved_to_another_record()
    {
        Add("prod-db", "postgres://admin:hunter2hunter2@db", ["network.credentialed_request"], ["db.internal.example"]);
        Add("harmless", "public-demo-key-0000", ["network.credentialed_request"], ["api.attacker.example"]);
        var prod = _state.Find(SecretName.Parse("prod-db"))!;
        var harmless = _state.Find(SecretName.Parse("harmless"))!;
        _state = _state with { Records = _state.Records.SetItem("harmless", harmless with { Value = prod.Value }) };

        using var r = SecretResolver.Resolve(_state, _key, Request("harmless", "api.attacker.example"));
        Assert.False(r.Granted);
        Assert.Equal(SecretUseOutcome.IntegrityFailure, r.Decision.Outcome);
        Assert.Equal("SecretNotFound", r.Decision.AgentError!.ErrorType);
    }

    // Adversarial: the same attacker widens a record's scope in the journal instead (allowed_hosts: ["*"]).
    [Fact]
    public void Should_refuse_a_record_whose_scope_was_widened_in_the_journal()
    {
        Add("stripe", "sk_live_0123456789abcdef", ["network.credentialed_request"], ["api.stripe.com"]);
        var record = _state.Find(SecretName.Parse("stripe"))!;
        foreach (var tampered in new[]
                 {
                     record with { AllowedHosts = ["*"] },
                     record with { AllowedHosts = ["api.stripe.com", "api.attacker.example"] },
                     record with { AllowedCapabilities = ["*"] },
                     record with { Type = SecretType.OauthToken },
                     record with { Version = 7 },
                 })
        {
            var state = _state with { Records = _state.Records.SetItem("stripe", tampered) };
            using var r = SecretResolver.Resolve(state, _key, Request("stripe", "api.attacker.example") with { Destination = new SecretDestination("api.stripe.com", HostKind.Dns, true, "ok") });
            Assert.Equal(SecretUseOutcome.IntegrityFailure, r.Decision.Outcome);
            Assert.Null(r.Value);
        }
    }

    [Fact]
    public void Should_prepare_only_valid_operator_commands()
    {
        Assert.Equal(VaultResultCode.Invalid, VaultOperations.Add(_state, _key, "service/gmail/oauth", "api_key", [], [], "value-1234"u8, T0).Refusal!.Code);
        Assert.Equal(VaultResultCode.Invalid, VaultOperations.Add(_state, _key, "ok", "encryption_key", [], [], "value-1234"u8, T0).Refusal!.Code);
        Assert.Equal(VaultResultCode.Invalid, VaultOperations.Add(_state, _key, "ok", "api_key", ["not a pattern"], [], "value-1234"u8, T0).Refusal!.Code);
        Assert.Equal(VaultResultCode.Invalid, VaultOperations.Add(_state, _key, "ok", "api_key", [], ["http://x/"], "value-1234"u8, T0).Refusal!.Code);
        Assert.Equal(VaultResultCode.Invalid, VaultOperations.Add(_state, _key, "ok", "api_key", [], [], "short"u8, T0).Refusal!.Code);
        Assert.Equal(VaultResultCode.NotFound, VaultOperations.Rotate(_state, _key, "nope", "value-1234"u8, T0).Refusal!.Code);
        Assert.Equal(VaultResultCode.NotInitialized, VaultOperations.Add(VaultState.Empty, _key, "ok", "api_key", [], [], "value-1234"u8, T0).Refusal!.Code);
        // Lists are normalised before sealing, so the stored text is canonical.
        var prepared = VaultOperations.Add(_state, _key, "ok", "api_key", [" network.* ", "network.*"], ["API.Example.com", "*.Example.com"], "value-1234"u8, T0);
        var add = Assert.IsType<AddSecret>(prepared.Command);
        Assert.Equal(["network.*"], add.AllowedCapabilities);
        Assert.Equal(["api.example.com", "*.example.com"], add.AllowedHosts);
    }

    [Fact]
    public void Should_store_and_refresh_a_managed_secret_through_its_own_path()
    {
        var gmail = ManagedSecretName.ServiceOAuth("gmail");
        var first = VaultOperations.StoreManaged(_state, _key, gmail, SecretType.OauthToken, ["email.*"], ["gmail.googleapis.com"], "ya29.first-token"u8, T0);
        _state = Apply(_state, first.Command!);
        var refresh = VaultOperations.StoreManaged(_state, _key, gmail, SecretType.OauthToken, ["email.*"], ["gmail.googleapis.com"], "ya29.second-token"u8, T0.AddHours(1));
        _state = Apply(_state, refresh.Command!);
        var request = new SecretUseRequest("service/gmail/oauth", CapabilityName.Parse("email.send"),
            new SecretDestination("gmail.googleapis.com", HostKind.Dns, true, "ok"));
        using var r = SecretResolver.Resolve(_state, _key, request);
        Assert.Equal("ya29.second-token", Read(r.Value!));
        // An operator cannot rotate it.
        Assert.Equal(VaultResultCode.Invalid, VaultOperations.Rotate(_state, _key, "service/gmail/oauth", "value-1234"u8, T0).Refusal!.Code);
    }

    [Fact]
    public void Should_keep_the_secret_value_opaque()
    {
        Add("stripe", "sk_live_0123456789abcdef", ["network.credentialed_request"], ["api.stripe.com"]);
        var r = SecretResolver.Resolve(_state, _key, Request("stripe"));
        var value = r.Value!;
        Assert.Equal("SecretValue(24 bytes)", value.ToString());
        Assert.Equal("SecretValue(24 bytes)", $"{value}");
        Assert.DoesNotContain("sk_live", r.ToString(), StringComparison.Ordinal);
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(value));
        Assert.Throws<NotSupportedException>(() => JsonSerializer.Serialize(new { value }));
        // Nothing public returns the content: Length is the only property, Use the only way in.
        Assert.Equal(["Length"], typeof(SecretValue).GetProperties().Select(p => p.Name));
        Assert.DoesNotContain(typeof(SecretValue).GetMethods(), m => m.ReturnType == typeof(string) && m.Name != nameof(ToString));
        Assert.DoesNotContain(typeof(SecretValue).GetMethods(), m => m.ReturnType == typeof(byte[]));
        r.Dispose();
        Assert.Throws<ObjectDisposedException>(() => Read(value));
    }

    [Fact]
    public void Should_never_put_a_value_in_a_command_event_or_state()
    {
        const string value = "sk_live_UNIQUE_MARKER_0123456789";
        Add("stripe", value, ["network.credentialed_request"], ["api.stripe.com"]);
        _state = Apply(_state, VaultOperations.Rotate(_state, _key, "stripe", Encoding.UTF8.GetBytes(value + "-2"), T0).Command!);
        var json = JsonSerializer.Serialize(_state, KruxOS.Core.CoreJson.Options);
        Assert.DoesNotContain("UNIQUE_MARKER", json, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes(value)), json, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_describe_every_outcome_in_the_audit_without_the_value()
    {
        Add("stripe", "sk_live_0123456789abcdef", ["network.credentialed_request"], ["api.stripe.com"]);
        var audits = new List<SecretUseAudit>();
        foreach (var (name, host) in new[] { ("stripe", "api.stripe.com"), ("stripe", "evil.example"), ("absent", "api.stripe.com") })
        {
            using var r = SecretResolver.Resolve(_state, _key, Request(name, host));
            audits.Add(r.Audit);
        }
        Assert.Equal(["granted", "host_not_allowed", "absent"], audits.Select(a => a.Outcome));
        Assert.All(audits, a => Assert.DoesNotContain("sk_live", JsonSerializer.Serialize(a), StringComparison.Ordinal));
        Assert.Equal(ImmutableArray.Create("api.stripe.com", "evil.example", "api.stripe.com"), [.. audits.Select(a => a.Host!)]);
    }
}
