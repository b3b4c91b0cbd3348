using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Audit;
using KruxOS.Actors.Identity;
using KruxOS.Core.Admin;
using KruxOS.Core.Agents;
using KruxOS.Core.Errors;
using KruxOS.Core.State;
using KruxOS.Core.State.Persistent;
using KruxOS.Core.State.Shared;

namespace KruxOS.Actors.State;

/// <summary>
/// <c>kruxos state list|get|set|delete|quota &lt;agent&gt;</c> and <c>kruxos state shared list|get|set|delete</c> for every
/// adapter (control socket, User API). Operator writes go through the same entities as agents' (versions, retention,
/// quotas, optimistic locking); a shared write records the operator (<c>user:&lt;label&gt;</c>) as <c>owner_agent</c>.
/// Every write is audited as <c>operator.state.*</c> — operator, agent, key and the resulting version, never the value —
/// before it is made, and refused with <c>audit_error</c> when that entry cannot be written (ADR 0057).
/// </summary>
public sealed class StateAdmin(StateAccess state, IdentityDirectory identities, OperatorAudit audit)
{
    /// <summary>An agent's persistent keys (<paramref name="prefix"/> optional).</summary>
    public Task<AdminResult<IStateReply>> ListAsync(string? agent, string? prefix, CancellationToken ct) =>
        WithAgent(agent, name => Ask(state.PersistentAsync(new PersistentStateQueries.ListKeys(name, prefix), ct)));

    /// <summary>One persistent value (the latest, or <paramref name="version"/>).</summary>
    public Task<AdminResult<IStateReply>> GetAsync(string? agent, string? key, long? version, CancellationToken ct) =>
        WithAgent(agent, name => Ask(state.PersistentAsync(new PersistentStateQueries.GetValue(name, key ?? string.Empty, version), ct)));

    /// <summary>An agent's quota use (<c>Used: … / …, Keys: n</c>).</summary>
    public Task<AdminResult<IStateReply>> QuotaAsync(string? agent, CancellationToken ct) =>
        WithAgent(agent, name => Ask(state.PersistentAsync(new PersistentStateQueries.GetUsage(name), ct)));

    /// <summary>Sets a persistent value of <paramref name="agent"/> as <paramref name="by"/> (a new version; audited).</summary>
    public Task<AdminResult<IStateReply>> SetAsync(string? agent, string? key, JsonElement value, string by, CancellationToken ct) =>
        WithAgent(agent, name =>
        {
            if (Validate(key, value, state.Settings.Persistent.MaxValueBytes, out var stored) is { } bad) return Task.FromResult(bad);
            return audit.AuditedAsync(by, "operator.state.set", Subject(name.Value, key!),
                () => Ask(state.PersistentAsync(new PersistentStateCommands.SetValue(name, key!, stored!), ct)), ct, Version);
        });

    /// <summary>Deletes a persistent key of <paramref name="agent"/> (every version) as <paramref name="by"/> (audited).</summary>
    public Task<AdminResult<IStateReply>> DeleteAsync(string? agent, string? key, string by, CancellationToken ct) =>
        WithAgent(agent, name => StateKeys.Validate(key ?? string.Empty) is { } bad
            ? Task.FromResult<AdminResult<IStateReply>>(From(bad))
            : audit.AuditedAsync(by, "operator.state.delete", Subject(name.Value, key!),
                () => Ask(state.PersistentAsync(new PersistentStateCommands.DeleteKey(name, key!), ct)), ct));

    /// <summary>The shared keys (<paramref name="prefix"/> optional).</summary>
    public Task<AdminResult<IStateReply>> SharedListAsync(string? prefix, CancellationToken ct) => Ask(state.SharedListAsync(prefix, ct));

    /// <summary>One shared value.</summary>
    public Task<AdminResult<IStateReply>> SharedGetAsync(string? key, CancellationToken ct) =>
        StateKeys.Validate(key ?? string.Empty) is { } bad
            ? Task.FromResult<AdminResult<IStateReply>>(From(bad))
            : Ask(state.SharedAsync(new SharedStateQueries.GetShared(key!), ct));

    /// <summary>
    /// Sets a shared value as <paramref name="by"/> with optimistic locking (<paramref name="expectedVersion"/> 0 = create;
    /// a mismatch is <c>VersionConflict</c>); the operator becomes <c>owner_agent</c>. Audited.
    /// </summary>
    public Task<AdminResult<IStateReply>> SharedSetAsync(string? key, JsonElement value, long? expectedVersion, string by, CancellationToken ct)
    {
        if (expectedVersion is not { } expected || expected < 0)
            return Task.FromResult<AdminResult<IStateReply>>(AdminErrors.InvalidInput("expected_version is required (0 to create; the current version to replace)"));
        if (Validate(key, value, state.Settings.Shared.MaxValueBytes, out var stored) is { } bad) return Task.FromResult(bad);
        var subject = new JsonObject { ["key"] = key, ["expected_version"] = expected };
        return audit.AuditedAsync(by, "operator.state.shared.set", subject,
            () => Ask(state.SharedAsync(new SharedStateCommands.SetShared(key!, stored!, expected, OperatorAudit.ActorOf(by)), ct)), ct, Version);
    }

    /// <summary>Deletes a shared key as <paramref name="by"/> (audited).</summary>
    public Task<AdminResult<IStateReply>> SharedDeleteAsync(string? key, string by, CancellationToken ct) =>
        StateKeys.Validate(key ?? string.Empty) is { } bad
            ? Task.FromResult<AdminResult<IStateReply>>(From(bad))
            : audit.AuditedAsync(by, "operator.state.shared.delete", new JsonObject { ["key"] = key },
                () => Ask(state.SharedAsync(new SharedStateCommands.DeleteShared(key!, OperatorAudit.ActorOf(by)), ct)), ct);

    private static JsonObject Subject(string agent, string key) => new() { ["agent"] = agent, ["key"] = key };

    // The version a write produced, for its outcome entry (never the value).
    private static JsonObject? Version(IStateReply reply) => reply switch
    {
        PersistentStateReplies.SetResult s => new JsonObject { ["version"] = s.Version, ["previous_version"] = s.PreviousVersion },
        SharedStateReplies.SetResult s => new JsonObject { ["version"] = s.Version },
        _ => null,
    };

    private Task<AdminResult<IStateReply>> WithAgent(string? agent, Func<AgentName, Task<AdminResult<IStateReply>>> run)
    {
        if (!AgentName.TryParse(agent, out var name, out var reason)) return Task.FromResult<AdminResult<IStateReply>>(AdminErrors.InvalidInput(reason));
        if (!identities.Current.Agents.ContainsKey(name.Value))
            return Task.FromResult<AdminResult<IStateReply>>(AdminErrors.NotFound($"agent '{name}' not found"));
        return run(name);
    }

    private static AdminResult<IStateReply>? Validate(string? key, JsonElement value, int maxBytes, out StoredJson? stored)
    {
        stored = null;
        if (StateKeys.Validate(key ?? string.Empty) is { } badKey) return From(badKey);
        if (!StoredJson.TryCreate(value, maxBytes, out var canonical, out var why)) return From(Errors.InvalidInput("value", why));
        stored = canonical;
        return null;
    }

    private static async Task<AdminResult<IStateReply>> Ask(Task<IStateReply> request)
    {
        var reply = await request.ConfigureAwait(false);
        return reply is StateRefused refused ? From(refused.Error) : AdminResult<IStateReply>.Ok(reply);
    }

    /// <summary>A state refusal as an admin error, under the capability's error type.</summary>
    public static AdminError From(StructuredError error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var kind = error.ErrorType switch
        {
            "KeyNotFound" or "SessionNotFound" => AdminErrorKind.NotFound,
            "VersionConflict" or "QuotaExceeded" => AdminErrorKind.Conflict,
            "InvalidInput" or "ResultTooLarge" => AdminErrorKind.InvalidInput,
            "ServiceUnavailable" => AdminErrorKind.Unavailable,
            "Timeout" => AdminErrorKind.Timeout,
            _ => AdminErrorKind.Failed,
        };
        return new AdminError(kind, error.ErrorType, error.Message);
    }
}
