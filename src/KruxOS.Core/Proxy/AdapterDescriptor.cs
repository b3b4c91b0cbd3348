using System.Collections.Immutable;
using KruxOS.Core.Capabilities;

namespace KruxOS.Core.Proxy;

/// <summary>How a proxied write runs: held in a cancellation window, or straight through.</summary>
public enum WriteMode
{
    /// <summary>Returns a <c>write_id</c> and <c>buffer_until</c>; executes once after the window unless cancelled.</summary>
    Buffered,
    /// <summary>Executes during the call (<c>email.draft</c>, <c>slack.react</c>, <c>slack.remove_react</c>).</summary>
    Immediate,
}

/// <summary>What a batch limit counts over.</summary>
public enum BatchScope
{
    /// <summary>Writes of the agent within a sliding <see cref="BatchLimit.Window"/>.</summary>
    Window,
    /// <summary>Writes of the agent's current session.</summary>
    Session,
}

/// <summary>
/// A batch protection threshold (spec §12.5): the write that would make the agent's count exceed
/// <see cref="Threshold"/> is escalated to <c>approval_required</c> in the decide stage. Writes of operations sharing a
/// <see cref="Group"/> count together (<c>slack.send</c> and <c>slack.reply</c>); <see cref="PerArgument"/> splits the count
/// by the value of one argument (<c>channel</c>: 10 messages an hour <em>per channel</em>).
/// </summary>
/// <param name="Threshold">How many writes are allowed; the next one is escalated. 0 means every write is escalated.</param>
/// <param name="Scope">Sliding window or session.</param>
/// <param name="Window">The sliding window (ignored for <see cref="BatchScope.Session"/>).</param>
/// <param name="Group">The counter's name; operations with the same group share it.</param>
/// <param name="PerArgument">An argument whose value splits the counter, or null.</param>
public sealed record BatchLimit(int Threshold, BatchScope Scope, TimeSpan Window, string Group, string? PerArgument = null)
{
    /// <summary>The generic default of a proxied service: 5 writes per 10 minutes per agent per service (spec §12.5).</summary>
    public static BatchLimit Generic(ServiceName service) => new(5, BatchScope.Window, TimeSpan.FromMinutes(10), service.Value + ".writes");

    /// <summary>At most <paramref name="threshold"/> per hour.</summary>
    public static BatchLimit PerHour(int threshold, string group, string? perArgument = null) =>
        new(threshold, BatchScope.Window, TimeSpan.FromHours(1), group, perArgument);

    /// <summary>At most <paramref name="threshold"/> per session.</summary>
    public static BatchLimit PerSession(int threshold, string group) => new(threshold, BatchScope.Session, TimeSpan.Zero, group);
}

/// <summary>
/// A rollback point an operation can leave before it executes (spec §12.5): <paramref name="Kind"/> names it for operators
/// (<c>untrash</c>, <c>reverse_labels</c>, <c>chat.delete</c>, <c>reactions.remove</c>) and it can be applied for
/// <paramref name="Retention"/> after the write executed (72 h Gmail and generic, 24 h Slack).
/// </summary>
public sealed record RollbackSpec(string Kind, TimeSpan Retention);

/// <summary>
/// One write operation of a service: the capability, buffered or immediate, its window, its rollback and its batch limit.
/// </summary>
/// <param name="Operation">The capability (<c>email.send</c>).</param>
/// <param name="Mode">Buffered or immediate.</param>
/// <param name="Window">The cancellation window of a buffered write (zero for immediate ones).</param>
/// <param name="Rollback">The rollback the operation leaves, or null.</param>
/// <param name="Batch">The batch protection threshold, or null for none.</param>
public sealed record WriteOperationSpec(CapabilityName Operation, WriteMode Mode, TimeSpan Window, RollbackSpec? Rollback, BatchLimit? Batch)
{
    /// <summary>A buffered operation.</summary>
    public static WriteOperationSpec Buffered(string operation, TimeSpan window, RollbackSpec? rollback, BatchLimit? batch) =>
        new(CapabilityName.Parse(operation), WriteMode.Buffered, window, rollback, batch);

    /// <summary>An immediate operation.</summary>
    public static WriteOperationSpec Immediate(string operation, RollbackSpec? rollback = null, BatchLimit? batch = null) =>
        new(CapabilityName.Parse(operation), WriteMode.Immediate, TimeSpan.Zero, rollback, batch);
}

/// <summary>
/// What the machinery needs to know about a service adapter: its name, its operations and how often its replica syncs.
/// Pure data: the decide stage (batch protection) and the write entity (windows) read it without touching the adapter.
/// </summary>
/// <param name="Name">The service (<c>gmail</c>, <c>slack</c>).</param>
/// <param name="DisplayName">For operators (<c>Gmail</c>).</param>
/// <param name="Categories">The capability categories the service serves (<c>email</c>); used to find the service of a call.</param>
/// <param name="SyncInterval">Time between incremental syncs (configurable per install).</param>
/// <param name="Operations">Every write operation (buffered and immediate); reads are not listed.</param>
public sealed record AdapterDescriptor(ServiceName Name, string DisplayName, ImmutableArray<string> Categories, TimeSpan SyncInterval,
    ImmutableArray<WriteOperationSpec> Operations)
{
    /// <summary>The spec of <paramref name="operation"/>, or null when it is not a write of this service.</summary>
    public WriteOperationSpec? Find(CapabilityName operation) => Operations.FirstOrDefault(o => o.Operation == operation);

    /// <summary>Checks the descriptor's own consistency; null when sound, else why not (a start-up error).</summary>
    public string? Validate()
    {
        if (Categories.IsDefaultOrEmpty) return $"service '{Name}' serves no category";
        if (SyncInterval < TimeSpan.FromSeconds(1)) return $"service '{Name}': the sync interval must be at least 1 s";
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var op in Operations)
        {
            if (!seen.Add(op.Operation.Value)) return $"service '{Name}': '{op.Operation}' is listed twice";
            if (!Categories.Contains(op.Operation.Category, StringComparer.Ordinal))
                return $"service '{Name}': '{op.Operation}' is outside its categories";
            if (op.Mode == WriteMode.Buffered && op.Window <= TimeSpan.Zero) return $"service '{Name}': '{op.Operation}' is buffered without a window";
            if (op.Mode == WriteMode.Immediate && op.Window != TimeSpan.Zero) return $"service '{Name}': '{op.Operation}' is immediate but has a window";
            if (op.Rollback is { } r && (string.IsNullOrWhiteSpace(r.Kind) || r.Retention <= TimeSpan.Zero))
                return $"service '{Name}': '{op.Operation}' has a rollback without a kind or retention";
            if (op.Batch is { } b && (b.Threshold < 0 || string.IsNullOrWhiteSpace(b.Group) || (b.Scope == BatchScope.Window && b.Window <= TimeSpan.Zero)))
                return $"service '{Name}': '{op.Operation}' has an invalid batch limit";
        }
        return null;
    }
}
