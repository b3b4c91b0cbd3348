using KruxOS.Core.Vault;
using Xunit;
using static KruxOS.Core.Tests.Vault.VaultTestData;
using static KruxOS.Core.Vault.VaultCommands;
using static KruxOS.Core.Vault.VaultEvents;

namespace KruxOS.Core.Tests.Vault;

/// <summary>The vault's pure state machine: ciphertext-only events, names, versions, revocation and nonce reuse.</summary>
public sealed class VaultStateSpecs
{
    [Fact]
    public void Should_refuse_everything_but_initialisation_on_an_empty_vault()
    {
        var (result, events) = VaultState.Empty.ProcessCommand(Add("stripe"));
        Assert.Equal(VaultResultCode.NotInitialized, result.Code);
        Assert.Empty(events);
        var state = Initialized();
        Assert.True(state.IsInitialized);
        Assert.Equal(VaultResultCode.Conflict, state.ProcessCommand(new InitializeVault(Header())).Result.Code);
    }

    [Fact]
    public void Should_refuse_a_header_with_weak_or_unbounded_parameters()
    {
        var h = Header();
        foreach (var bad in new[]
                 {
                     h with { Kdf = h.Kdf with { MemoryKiB = 1024 } },
                     h with { Kdf = h.Kdf with { MemoryKiB = 64 * 1024 * 1024 } },
                     h with { Kdf = h.Kdf with { Iterations = 1 } },
                     h with { Kdf = h.Kdf with { Iterations = 1000 } },
                     h with { Kdf = h.Kdf with { Parallelism = 4 } },
                     h with { Kdf = h.Kdf with { Algorithm = "scrypt" } },
                     h with { Kdf = h.Kdf with { Salt = new VaultBytes([1, 2, 3]) } },
                     h with { Cipher = "aes-128-cbc" },
                     h with { Verifier = Sealed(3) },
                 })
            Assert.Equal(VaultResultCode.Invalid, VaultState.Empty.ProcessCommand(new InitializeVault(bad)).Result.Code);
    }

    [Fact]
    public void Should_record_an_added_secret_with_its_metadata_and_ciphertext_only()
    {
        var add = Add("stripe", ["network.credentialed_request"], ["api.stripe.com", "*.stripe.com"]);
        var (result, events) = Initialized().ProcessCommand(add);
        Assert.True(result.IsOk, result.Message);
        var e = Assert.IsType<SecretAdded>(Assert.Single(events));
        Assert.Equal(add.Value, e.Value);
        var state = Initialized().ApplyAll(events);
        var record = state.Find(SecretName.Parse("stripe"))!;
        Assert.Equal(1, record.Version);
        Assert.Equal(T0, record.CreatedAt);
        Assert.False(record.IsRevoked);
        Assert.Equal(["api.stripe.com", "*.stripe.com"], record.AllowedHosts);
        // Nothing but the sealed value is stored: the record has no member that could hold a plaintext.
        Assert.DoesNotContain(typeof(SecretRecord).GetProperties(), p => p.PropertyType == typeof(byte[]) || p.Name.Contains("Plain", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("model-provider:openai")]
    [InlineData("user/token/laptop")]
    [InlineData("service/gmail/oauth")]
    public void Should_refuse_an_operator_add_of_a_managed_name(string name)
    {
        // The name parses (it is a valid name to look up), but an operator add may never write it.
        var command = Add("stripe") with { Name = SecretName.Parse(name) };
        var (result, events) = Initialized().ProcessCommand(command);
        Assert.Equal(VaultResultCode.Invalid, result.Code);
        Assert.Contains("managed", result.Message, StringComparison.Ordinal);
        Assert.Empty(events);
    }

    [Fact]
    public void Should_refuse_types_an_operator_may_not_add_and_names_that_are_taken_in_any_case()
    {
        var state = Initialized();
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("k", type: SecretType.EncryptionKey)).Result.Code);
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("k", type: SecretType.AgentAuthToken)).Result.Code);
        state = Run(state, Add("Stripe"));
        Assert.Equal(VaultResultCode.Conflict, state.ProcessCommand(Add("stripe")).Result.Code);
        state = Run(state, new RevokeSecret(SecretName.Parse("Stripe"), "leaked", T0));
        var again = state.ProcessCommand(Add("Stripe"));
        Assert.Equal(VaultResultCode.Conflict, again.Result.Code);
        Assert.Contains("revoked", again.Result.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Should_refuse_lists_that_are_not_normalised_because_the_ciphertext_is_bound_to_their_text()
    {
        var state = Initialized();
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("a", hosts: ["API.Stripe.com"])).Result.Code);
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("a", hosts: ["api.stripe.com", "api.stripe.com"])).Result.Code);
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("a", caps: ["network.*.x"])).Result.Code);
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("a", hosts: ["*."])).Result.Code);
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("a", hosts: [.. Enumerable.Range(0, 65).Select(i => $"h{i}.example.com")])).Result.Code);
        Assert.True(state.ProcessCommand(Add("a", caps: [], hosts: [])).Result.IsOk); // empty: valid, and unusable
    }

    [Fact]
    public void Should_refuse_values_outside_the_size_bounds()
    {
        var state = Initialized();
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("a", value: Sealed(VaultFormat.MinValueBytes - 1))).Result.Code);
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("a", value: Sealed(VaultFormat.MaxValueBytes + 1))).Result.Code);
        Assert.True(state.ProcessCommand(Add("a", value: Sealed(VaultFormat.MinValueBytes))).Result.IsOk);
        Assert.True(state.ProcessCommand(Add("a", value: Sealed(VaultFormat.MaxValueBytes))).Result.IsOk);
        var badNonce = new SealedValue(new VaultBytes(new byte[8]), Sealed().Ciphertext);
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("a", value: badNonce)).Result.Code);
    }

    // Adversarial: a sealer whose random source repeats (or a replayed command) must not get a second ciphertext
    // under a nonce already used with the vault key. Seen failing with the UsedNonces check removed from ValueError.
    [Fact]
    public void Should_refuse_a_nonce_already_used_under_the_vault_key_anywhere_in_its_history()
    {
        var state = Run(Initialized(), Add("stripe"));
        var used = state.Find(SecretName.Parse("stripe"))!.Value.Nonce;
        var reuse = new SealedValue(used, Sealed().Ciphertext);

        var add = state.ProcessCommand(Add("other", value: reuse));
        Assert.Equal(VaultResultCode.Invalid, add.Result.Code);
        Assert.Contains("nonce", add.Result.Message, StringComparison.Ordinal);

        var rotate = state.ProcessCommand(new RotateSecret(SecretName.Parse("stripe"), 2, reuse, T0));
        Assert.Equal(VaultResultCode.Invalid, rotate.Result.Code);

        // Still refused after the record moved on to a new version: the old ciphertext is in the journal forever.
        state = Run(state, new RotateSecret(SecretName.Parse("stripe"), 2, Sealed(), T0.AddDays(1)));
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("third", value: reuse)).Result.Code);

        // And the verifier's nonce is taken from the start.
        var verifierNonce = new SealedValue(state.Header!.Verifier.Nonce, Sealed().Ciphertext);
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(Add("fourth", value: verifierNonce)).Result.Code);

        var managed = state.ProcessCommand(new StoreManagedSecret(ManagedSecretName.ServiceOAuth("gmail"), SecretType.OauthToken,
            ["email.*"], ["gmail.googleapis.com"], 1, reuse, T0));
        Assert.Equal(VaultResultCode.Invalid, managed.Result.Code);
    }

    [Fact]
    public void Should_rotate_to_the_next_version_only_and_keep_the_scope()
    {
        var name = SecretName.Parse("stripe");
        var state = Run(Initialized(), Add("stripe"));
        Assert.Equal(2, state.NextVersion(name));
        Assert.Equal(VaultResultCode.Conflict, state.ProcessCommand(new RotateSecret(name, 1, Sealed(), T0)).Result.Code);
        Assert.Equal(VaultResultCode.Conflict, state.ProcessCommand(new RotateSecret(name, 3, Sealed(), T0)).Result.Code);
        var value = Sealed();
        state = Run(state, new RotateSecret(name, 2, value, T0.AddHours(1)));
        var record = state.Find(name)!;
        Assert.Equal(2, record.Version);
        Assert.Equal(value, record.Value);
        Assert.Equal(T0.AddHours(1), record.RotatedAt);
        Assert.Equal(["api.stripe.com"], record.AllowedHosts);
        Assert.Equal(VaultResultCode.NotFound, state.ProcessCommand(new RotateSecret(SecretName.Parse("nope"), 1, Sealed(), T0)).Result.Code);
    }

    [Fact]
    public void Should_keep_revoked_secrets_listed_unusable_and_not_rotatable()
    {
        var name = SecretName.Parse("stripe");
        var state = Run(Run(Initialized(), Add("stripe")), Add("github"));
        state = Run(state, new RevokeSecret(name, "leaked in a log", T0.AddDays(2)));
        var record = state.Find(name)!;
        Assert.True(record.IsRevoked);
        Assert.Equal("leaked in a log", record.RevokedReason);
        Assert.Equal(VaultResultCode.Conflict, state.ProcessCommand(new RotateSecret(name, 2, Sealed(), T0)).Result.Code);
        // Revoking again is an idempotent no-op.
        var (again, events) = state.ProcessCommand(new RevokeSecret(name, "again", T0));
        Assert.True(again.IsOk);
        Assert.Empty(events);
        Assert.Equal(["github"], state.List(includeRevoked: false).Select(i => i.Name));
        var listed = state.List(includeRevoked: true);
        Assert.Equal(["github", "stripe"], listed.Select(i => i.Name));
        Assert.True(listed.Single(i => i.Name == "stripe").Revoked);
    }

    [Fact]
    public void Should_write_managed_names_only_through_the_managed_command_and_let_it_reconnect_after_a_revocation()
    {
        var gmail = ManagedSecretName.ServiceOAuth("gmail");
        var state = Initialized();
        StoreManagedSecret Store(int version) => new(gmail, SecretType.OauthToken, ["email.*"], ["gmail.googleapis.com"], version, Sealed(), T0.AddMinutes(version));
        Assert.Equal(VaultResultCode.Conflict, state.ProcessCommand(Store(2)).Result.Code);
        state = Run(state, Store(1));
        state = Run(state, Store(2)); // a refresh
        Assert.True(state.Find(gmail.Name)!.Name.IsManaged);
        // Operators cannot rotate it, but they may revoke it (that only takes power away).
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(new RotateSecret(gmail.Name, 3, Sealed(), T0)).Result.Code);
        state = Run(state, new RevokeSecret(gmail.Name, "disconnected", T0.AddHours(1)));
        Assert.True(state.Find(gmail.Name)!.IsRevoked);
        // Reconnecting stores a new generation; the version keeps counting, so (name, version) never repeats.
        state = Run(state, Store(3));
        var record = state.Find(gmail.Name)!;
        Assert.False(record.IsRevoked);
        Assert.Equal(3, record.Version);
        Assert.Equal(T0.AddMinutes(3), record.CreatedAt);
    }

    [Fact]
    public void Should_flag_a_secret_until_a_new_value_clears_it()
    {
        var name = SecretName.Parse("stripe");
        var state = Run(Initialized(), Add("stripe"));
        Assert.Equal(VaultResultCode.Invalid, state.ProcessCommand(new FlagSecret(name, " ", T0)).Result.Code);
        state = Run(state, new FlagSecret(name, "refresh failed", T0));
        Assert.True(state.List(false).Single().NeedsAttention);
        Assert.Empty(state.ProcessCommand(new FlagSecret(name, "refresh failed", T0)).Events);
        state = Run(state, new RotateSecret(name, 2, Sealed(), T0));
        Assert.False(state.List(false).Single().NeedsAttention);
    }

    [Fact]
    public void Should_never_crash_on_default_or_missing_values_in_commands()
    {
        var state = Run(Initialized(), Add("stripe"));
        foreach (var bad in new IVaultCommand[]
                 {
                     new RotateSecret(default, 2, Sealed(), T0),
                     new RevokeSecret(default, "x", T0),
                     new RevokeSecret(SecretName.Parse("stripe"), null!, T0),
                     new FlagSecret(default, "x", T0),
                     new StoreManagedSecret(default, SecretType.ApiKey, [], [], 1, Sealed(), T0),
                     Add("a") with { Value = null! },
                     Add("a") with { AllowedHosts = default },
                     new InitializeVault(null!),
                 })
            Assert.False(state.ProcessCommand(bad).Result.IsOk);
    }

    [Fact]
    public void Should_replay_to_the_same_state_whatever_the_clock_says()
    {
        var initialize = new InitializeVault(Header());
        var commands = new IVaultCommand[]
        {
            Add("stripe"),
            new RotateSecret(SecretName.Parse("stripe"), 2, Sealed(), T0.AddDays(1)),
            new StoreManagedSecret(ManagedSecretName.UserToken("laptop"), SecretType.AgentAuthToken, ["agent.*"], [], 1, Sealed(), T0),
            new FlagSecret(SecretName.Parse("stripe"), "expiring", T0.AddDays(2)),
            new RevokeSecret(SecretName.Parse("stripe"), "done", T0.AddDays(3)),
        };
        var events = new List<IVaultEvent>();
        var state = VaultState.Empty;
        foreach (var c in commands.Prepend(initialize))
        {
            var (result, e) = state.ProcessCommand(c);
            Assert.True(result.IsOk, result.Message);
            events.AddRange(e);
            state = state.ApplyAll(e);
        }
        Assert.Equal(state, VaultState.Empty.ApplyAll(events));
    }
}
