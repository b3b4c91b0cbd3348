using System.Collections.Immutable;
using System.Security.Cryptography;
using Akka.Actor;
using Akka.Hosting;
using KruxOS.Actors.Admin;
using KruxOS.Core.Admin;
using KruxOS.Core.Vault;
using KruxOS.Vault;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Vault;

/// <summary>What is really in force on this node: <c>loading</c>, <c>uninitialised</c>, <c>locked</c> or <c>unlocked</c>.</summary>
public enum VaultLockState
{
    /// <summary>The vault's journal is not recovered yet: nothing is known, and nothing that needs a secret runs.</summary>
    Loading,
    /// <summary>No vault has been initialised (nothing can be stored or used).</summary>
    Uninitialised,
    /// <summary>Initialised, and this node does not hold the key: everything that needs a secret fails with <c>VaultLocked</c>.</summary>
    Locked,
    /// <summary>This node holds the key.</summary>
    Unlocked,
}

/// <summary>Wire spellings of <see cref="VaultLockState"/>.</summary>
public static class VaultLockStates
{
    /// <summary><c>loading</c>, <c>uninitialised</c>, <c>locked</c>, <c>unlocked</c>.</summary>
    public static string ToWire(this VaultLockState s) => s switch
    {
        VaultLockState.Loading => "loading",
        VaultLockState.Uninitialised => "uninitialised",
        VaultLockState.Locked => "locked",
        _ => "unlocked",
    };
}

/// <summary>A secret that needs the operator's attention: an agent asked for a rotation, or a component flagged it.</summary>
/// <param name="Name">The secret.</param>
/// <param name="Reason">Why (for a rotation request: who asked, why, and the request id).</param>
public sealed record VaultAttention(string Name, string Reason);

/// <summary><c>kruxos vault status</c>: the state in force on this node, counts, and what needs attention. Never a value.</summary>
public sealed record VaultStatus(VaultLockState State, int Secrets, int Revoked, ImmutableArray<VaultAttention> NeedsAttention)
{
    /// <summary>The state's wire name.</summary>
    public string StateName => State.ToWire();
}

/// <summary>The outcome of a change (add, rotate, revoke): the secret as listed afterwards, never its value.</summary>
public sealed record VaultChange(string Message, SecretInfo Secret);

/// <summary>
/// Vault administration for every adapter (control socket, User API, dashboard) and for the node's start-up. Passphrases
/// and values pass through once: values are sealed here (the entity sees ciphertext only) and the caller's buffers are
/// zeroed by the caller; nothing here returns, logs or keeps a value or a passphrase. Key derivations (Argon2id, 64 MiB)
/// run one at a time per node, so parallel unlock attempts cannot multiply the memory they take.
/// </summary>
/// <remarks>
/// Every operator change (init, unlock, lock, add, rotate, revoke) is audited here, once for every surface, as
/// <c>operator.vault.*</c> attributed to <c>by</c>: requested before it is made, refused with <c>audit_error</c> when that
/// entry cannot be written, and its outcome after (ADR 0057). Entries hold names, types, scopes and reasons — never a
/// value or a passphrase. The node's own start-up unlock (<see cref="UnlockOrInitializeAsync"/>) is not an operator change.
/// </remarks>
public sealed class VaultAdmin(IRequiredActor<VaultRegistry> vault, VaultDirectory directory, VaultKeyHolder keys, VaultAlerts alerts,
    TimeProvider clock, ILogger<VaultAdmin> log, KruxOS.Actors.Audit.OperatorAudit audit)
{
    private readonly SemaphoreSlim _derivations = new(1, 1);

    /// <summary>The state in force on this node (before the journal is recovered, <c>loading</c>: never a guess).</summary>
    public VaultLockState LockState => !directory.Ready.IsCompletedSuccessfully ? VaultLockState.Loading
        : !directory.Current.IsInitialized ? VaultLockState.Uninitialised
        : keys.IsUnlocked ? VaultLockState.Unlocked : VaultLockState.Locked;

    /// <summary>The vault's status.</summary>
    public VaultStatus Status()
    {
        var state = directory.Current;
        var attention = state.Records.Values.Where(r => r is { IsRevoked: false, NeedsAttention: not null })
            .Select(r => new VaultAttention(r.Name.Value, r.NeedsAttention!)).ToImmutableArray();
        return new VaultStatus(LockState, state.Records.Values.Count(r => !r.IsRevoked), state.Records.Values.Count(r => r.IsRevoked), attention);
    }

    /// <summary>The listing (names, types, scopes, versions, times; never a value).</summary>
    public ImmutableArray<SecretInfo> List(bool includeRevoked) => directory.Current.List(includeRevoked);

    /// <summary>What <c>secrets.list</c> shows an agent: <see cref="List"/> without the secrets agents may not see.</summary>
    public ImmutableArray<SecretInfo> ListForAgents(bool includeRevoked) =>
        [.. directory.Current.Records.Values.Where(r => (includeRevoked || !r.IsRevoked) && SecretsVisibility.VisibleToAgents(r.Name)).Select(r => r.ToInfo())];

    /// <summary>Initialises an empty vault with <paramref name="passphrase"/> and unlocks this node, as <paramref name="by"/> (audited).</summary>
    public Task<AdminResult<VaultStatus>> InitializeAsync(ReadOnlyMemory<char> passphrase, string by, CancellationToken ct) =>
        audit.AuditedAsync(by, "operator.vault.init", new System.Text.Json.Nodes.JsonObject(), () => InitializeCoreAsync(passphrase, ct), ct);

    /// <summary>Unlocks this node with <paramref name="passphrase"/>, as <paramref name="by"/> (audited; a wrong one is refused and the node stays locked).</summary>
    public Task<AdminResult<VaultStatus>> UnlockAsync(ReadOnlyMemory<char> passphrase, string by, CancellationToken ct) =>
        audit.AuditedAsync(by, "operator.vault.unlock", new System.Text.Json.Nodes.JsonObject(), () => UnlockCoreAsync(passphrase, ct), ct);

    private Task<AdminResult<VaultStatus>> InitializeCoreAsync(ReadOnlyMemory<char> passphrase, CancellationToken ct) => AdminCalls.Guarded<VaultStatus>(async () =>
    {
        if (passphrase.IsEmpty) return AdminErrors.InvalidInput("a passphrase is required");
        if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the vault is still loading; retry shortly");
        if (directory.Current.IsInitialized) return VaultAdminErrors.Conflict("the vault is already initialised; use unlock");
        await _derivations.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var (result, command) = await Task.Run(() => VaultSetup.Initialize(passphrase.Span, clock.GetUtcNow()), ct).ConfigureAwait(false);
            if (!result.Succeeded || command is null) return AdminErrors.InvalidInput(result.Message);
            var key = result.Key!;
            VaultResult answer;
            try
            {
                answer = await AskAsync(command, ct).ConfigureAwait(false);
            }
            catch
            {
                key.Dispose();
                throw;
            }
            if (!answer.IsOk)
            {
                key.Dispose();
                return VaultAdminErrors.From(answer);
            }
            keys.Install(key);
            log.LogInformation("Vault initialised and unlocked on this node");
            return Status();
        }
        finally { _derivations.Release(); }
    });

    private Task<AdminResult<VaultStatus>> UnlockCoreAsync(ReadOnlyMemory<char> passphrase, CancellationToken ct) => AdminCalls.Guarded<VaultStatus>(async () =>
    {
        if (passphrase.IsEmpty) return AdminErrors.InvalidInput("a passphrase is required");
        if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the vault is still loading; retry shortly");
        if (directory.Current.Header is not { } header) return VaultAdminErrors.NotInitialized();
        await _derivations.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var result = await Task.Run(() => VaultSetup.Unlock(header, passphrase.Span), ct).ConfigureAwait(false);
            if (!result.Succeeded)
            {
                log.LogWarning("Vault unlock refused: {Reason}", result.Error);
                return result.Error == VaultUnlockError.WrongPassphrase
                    ? new AdminError(AdminErrorKind.InvalidInput, "WrongPassphrase", result.Message)
                    : new AdminError(AdminErrorKind.Failed, "VaultError", result.Message);
            }
            keys.Install(result.Key!);
            log.LogInformation("Vault unlocked on this node");
            return Status();
        }
        finally { _derivations.Release(); }
    });

    /// <summary>
    /// Start-up: unlocks an initialised vault, or initialises an empty one, with the node's configured passphrase. A
    /// second node that loses the race to initialise unlocks with the header the winner stored.
    /// </summary>
    public async Task<AdminResult<VaultStatus>> UnlockOrInitializeAsync(ReadOnlyMemory<char> passphrase, CancellationToken ct)
    {
        if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the vault did not load");
        if (directory.Current.IsInitialized) return await UnlockCoreAsync(passphrase, ct).ConfigureAwait(false);
        var initialised = await InitializeCoreAsync(passphrase, ct).ConfigureAwait(false);
        if (initialised.IsOk || initialised.Error!.Code != VaultAdminErrors.ConflictCode) return initialised;
        await RefreshAsync(ct).ConfigureAwait(false);
        return await UnlockCoreAsync(passphrase, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Zeroes this node's key, as <paramref name="by"/> (audited): everything that needs a secret fails with <c>VaultLocked</c>
    /// until the next unlock.
    /// </summary>
    public Task<AdminResult<VaultStatus>> LockAsync(string by, CancellationToken ct) =>
        audit.AuditedAsync(by, "operator.vault.lock", new System.Text.Json.Nodes.JsonObject(), () =>
        {
            if (keys.Lock()) log.LogInformation("Vault locked on this node");
            return Task.FromResult<AdminResult<VaultStatus>>(Status());
        }, ct);

    /// <summary>Adds an operator secret, as <paramref name="by"/> (audited); <paramref name="value"/> is sealed here and the caller zeroes it.</summary>
    public Task<AdminResult<VaultChange>> AddAsync(string? name, string? type, IReadOnlyList<string>? allowedCapabilities, IReadOnlyList<string>? allowedHosts,
        ReadOnlyMemory<byte> value, string by, CancellationToken ct) => audit.AuditedAsync(by, "operator.vault.add", new System.Text.Json.Nodes.JsonObject
        {
            ["name"] = SecretName.Shorten(name ?? string.Empty),
            ["type"] = type,
            ["allowed_capabilities"] = new System.Text.Json.Nodes.JsonArray([.. (allowedCapabilities ?? []).Select(c => (System.Text.Json.Nodes.JsonNode?)c)]),
            ["allowed_hosts"] = new System.Text.Json.Nodes.JsonArray([.. (allowedHosts ?? []).Select(h => (System.Text.Json.Nodes.JsonNode?)h)]),
        }, () => AdminCalls.Guarded<VaultChange>(async () =>
    {
        if (string.IsNullOrEmpty(name)) return AdminErrors.InvalidInput("a name is required");
        if (string.IsNullOrEmpty(type)) return AdminErrors.InvalidInput("a type is required (api_key or oauth_token)");
        return await ChangeAsync(name, (state, key) => VaultOperations.Add(state, key, name, type, allowedCapabilities, allowedHosts, value.Span,
            clock.GetUtcNow()), ct).ConfigureAwait(false);
    }), ct);

    /// <summary>Replaces an operator secret's value, as <paramref name="by"/> (audited); <paramref name="value"/> is sealed here and the caller zeroes it.</summary>
    public Task<AdminResult<VaultChange>> RotateAsync(string? name, ReadOnlyMemory<byte> value, string by, CancellationToken ct) =>
        audit.AuditedAsync(by, "operator.vault.rotate", new System.Text.Json.Nodes.JsonObject { ["name"] = SecretName.Shorten(name ?? string.Empty) },
            () => AdminCalls.Guarded<VaultChange>(async () =>
            {
                if (string.IsNullOrEmpty(name)) return AdminErrors.InvalidInput("a name is required");
                return await ChangeAsync(name, (state, key) => VaultOperations.Rotate(state, key, name, value.Span, clock.GetUtcNow()), ct).ConfigureAwait(false);
            }), ct);

    /// <summary>Revokes a secret, as <paramref name="by"/> (audited; it stays listed, never usable again). Needs no key: it only takes power away.</summary>
    public Task<AdminResult<VaultChange>> RevokeAsync(string? name, string? reason, string by, CancellationToken ct) =>
        audit.AuditedAsync(by, "operator.vault.revoke", new System.Text.Json.Nodes.JsonObject { ["name"] = SecretName.Shorten(name ?? string.Empty), ["reason"] = reason },
            () => RevokeCoreAsync(name, reason, ct), ct);

    private Task<AdminResult<VaultChange>> RevokeCoreAsync(string? name, string? reason, CancellationToken ct) => AdminCalls.Guarded<VaultChange>(async () =>
    {
        if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the vault is still loading; retry shortly");
        if (!directory.Current.IsInitialized) return VaultAdminErrors.NotInitialized();
        if (!SecretName.TryParse(name, out var secretName, out _) || directory.Current.Find(secretName) is null)
            return AdminErrors.NotFound($"no secret named '{SecretName.Shorten(name ?? string.Empty)}'");
        var answer = await AskAsync(new VaultCommands.RevokeSecret(secretName, reason ?? "revoked by the operator", clock.GetUtcNow()), ct)
            .ConfigureAwait(false);
        return await Changed(answer, secretName, ct).ConfigureAwait(false);
    });

    /// <summary>
    /// Records an agent's request to rotate <paramref name="name"/> (<c>secrets.rotate_request</c>): the secret is flagged
    /// as needing attention with who asked and why, which <see cref="Status"/> lists until a new value clears it. Null
    /// when the name is not an operator or service secret that exists and is live (the agent gets <c>SecretNotFound</c>).
    /// </summary>
    public async Task<AdminResult<string>> RequestRotationAsync(string agent, string name, string reason, CancellationToken ct)
    {
        var state = directory.Current;
        if (!SecretName.TryParse(name, out var secretName, out _) || state.Find(secretName) is not { IsRevoked: false } record
            || !SecretsVisibility.VisibleToAgents(record.Name))
            return AdminErrors.NotFound($"no secret named '{SecretName.Shorten(name)}'");
        var requestId = "rr-" + Guid.CreateVersion7(clock.GetUtcNow()).ToString("N");
        var text = $"rotation requested by agent '{agent}' ({reason}); request {requestId}";
        try
        {
            var answer = await AskAsync(new VaultCommands.FlagSecret(secretName, text, clock.GetUtcNow()), ct).ConfigureAwait(false);
            if (!answer.IsOk) return VaultAdminErrors.From(answer);
        }
        catch (AskTimeoutException)
        {
            return AdminErrors.Timeout;
        }
        alerts.RotationRequested(record.Name.Value, agent, reason, requestId);
        return requestId;
    }

    /// <summary>Asks the entity for its state now and takes it when newer (after a lost initialisation race).</summary>
    public async Task RefreshAsync(CancellationToken ct)
    {
        var registry = await vault.GetAsync(ct).ConfigureAwait(false);
        var current = await registry.Ask<VersionedVaultState>(VaultQueries.GetVaultState.Instance, AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
        directory.Publish(current);
    }

    private async Task<AdminResult<VaultChange>> ChangeAsync(string name, Func<VaultState, VaultKey, PreparedCommand> prepare, CancellationToken ct)
    {
        if (!await Ready(ct).ConfigureAwait(false)) return AdminErrors.Unavailable("the vault is still loading; retry shortly");
        var state = directory.Current;
        if (!state.IsInitialized) return VaultAdminErrors.NotInitialized();
        if (keys.Current is not { } key) return VaultAdminErrors.Locked();
        PreparedCommand prepared;
        try { prepared = prepare(state, key); }
        catch (VaultLockedException) { return VaultAdminErrors.Locked(); }
        if (!prepared.IsReady) return VaultAdminErrors.From(prepared.Refusal!);
        var answer = await AskAsync(prepared.Command!, ct).ConfigureAwait(false);
        SecretName.TryParse(name, out var secretName, out _);
        return await Changed(answer, secretName, ct).ConfigureAwait(false);
    }

    private async Task<AdminResult<VaultChange>> Changed(VaultResult answer, SecretName name, CancellationToken ct)
    {
        if (!answer.IsOk) return VaultAdminErrors.From(answer);
        // The entity answers after persisting and publishing; on another node the replica may lag, so read it back.
        if (directory.Current.Find(name) is null) await RefreshAsync(ct).ConfigureAwait(false);
        var record = directory.Current.Find(name);
        return record is null ? AdminErrors.Unavailable("the change was stored but is not visible on this node yet") : new VaultChange(answer.Message, record.ToInfo());
    }

    private async Task<VaultResult> AskAsync(IVaultCommand command, CancellationToken ct)
    {
        var registry = await vault.GetAsync(ct).ConfigureAwait(false);
        var answer = await registry.Ask<VaultResult>(command, AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
        // Make sure this node's read model has the change before the caller acts on it.
        if (answer.IsOk) await RefreshAsync(ct).ConfigureAwait(false);
        return answer;
    }

    private async Task<bool> Ready(CancellationToken ct)
    {
        if (directory.Ready.IsCompletedSuccessfully) return true;
        try
        {
            await directory.Ready.WaitAsync(AdminCalls.EdgeTimeout, ct).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}

/// <summary>The vault's admin errors.</summary>
public static class VaultAdminErrors
{
    /// <summary>The code of a state conflict (already initialised, name taken, revoked).</summary>
    public const string ConflictCode = "Conflict";

    /// <summary>A state conflict.</summary>
    public static AdminError Conflict(string message) => new(AdminErrorKind.Conflict, ConflictCode, message);

    /// <summary>The vault is locked on this node.</summary>
    public static AdminError Locked() => new(AdminErrorKind.Conflict, "VaultLocked", "the vault is locked on this node; run 'kruxos vault unlock'");

    /// <summary>No vault yet.</summary>
    public static AdminError NotInitialized() => new(AdminErrorKind.Conflict, "NotInitialized", "the vault is not initialised; run 'kruxos vault init'");

    /// <summary>The entity's or the preparation's refusal.</summary>
    public static AdminError From(VaultResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return result.Code switch
        {
            VaultResultCode.NotFound => AdminErrors.NotFound(result.Message),
            VaultResultCode.Invalid => AdminErrors.InvalidInput(result.Message),
            VaultResultCode.NotInitialized => NotInitialized(),
            _ => Conflict(result.Message),
        };
    }
}

/// <summary>Which secrets agents may see and ask about.</summary>
public static class SecretsVisibility
{
    /// <summary>Operator and service secrets; never the user tokens of launchers (<c>user/token/…</c>).</summary>
    public static bool VisibleToAgents(SecretName name) => !name.Value.StartsWith(ManagedSecretName.UserTokenPrefix, StringComparison.OrdinalIgnoreCase);
}
