using KruxOS.Core.Admin;
using KruxOS.Core.Agents;
using KruxOS.Sandbox;
using KruxOS.Sandbox.Mounts;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>A mount that was removed.</summary>
public sealed record MountRemoved(string Agent, string Label);

/// <summary>
/// Operator host mounts for every adapter (<c>kruxos mount add|list|remove</c>): a host directory made visible to one
/// agent's sandbox at <c>/mnt/&lt;label&gt;</c>. A change applies when the agent's sandbox next starts, so the agent's
/// running sandbox is stopped (its next call starts a fresh one).
/// </summary>
public sealed class MountAdmin(SandboxHost sandbox)
{
    /// <summary>Adds a mount; <paramref name="target"/>, when given, must be the mount point the label names.</summary>
    public AdminResult<MountEntry> Add(string? agent, string source, string label, bool readOnly, string? target) => Run<MountEntry>(agent, name =>
    {
        if (target is not null && target != "/mnt/" + label)
            return AdminErrors.InvalidInput($"target must be /mnt/{label} (the label names the mount point)");
        var entry = sandbox.Mounts.Add(name.Value, source, label, readOnly);
        _ = sandbox.StopAgentAsync(name, CancellationToken.None);
        return entry;
    });

    /// <summary>The agent's mounts.</summary>
    public AdminResult<IReadOnlyList<MountEntry>> List(string? agent) =>
        Run<IReadOnlyList<MountEntry>>(agent, name => AdminResult<IReadOnlyList<MountEntry>>.Ok([.. sandbox.Mounts.For(name.Value)]));

    /// <summary>Removes the agent's mount labelled <paramref name="label"/>.</summary>
    public AdminResult<MountRemoved> Remove(string? agent, string label) => Run<MountRemoved>(agent, name =>
    {
        if (!sandbox.Mounts.Remove(name.Value, label)) return AdminErrors.NotFound($"agent '{name}' has no mount labelled '{label}'");
        _ = sandbox.StopAgentAsync(name, CancellationToken.None);
        return new MountRemoved(name.Value, label);
    });

    // The agent name is checked first; the mount table refuses bad sources and labels with ArgumentException, and a
    // table it cannot write with IOException.
    private static AdminResult<T> Run<T>(string? agent, Func<AgentName, AdminResult<T>> operation)
    {
        if (!AgentName.TryParse(agent, out var name, out var why)) return AdminErrors.InvalidInput(why);
        try
        {
            return operation(name);
        }
        catch (ArgumentException e)
        {
            return AdminErrors.InvalidInput(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal));
        }
        catch (IOException e)
        {
            return new AdminError(AdminErrorKind.Failed, "io_error", e.Message);
        }
    }
}
