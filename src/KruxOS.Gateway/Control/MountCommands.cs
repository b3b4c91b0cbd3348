using System.Text.Json.Nodes;
using KruxOS.Core.Agents;
using KruxOS.Core.Control;
using KruxOS.Sandbox;
using KruxOS.Sandbox.Mounts;
using static KruxOS.Core.Control.ControlProtocol;

namespace KruxOS.Gateway.Control;

/// <summary>
/// Operator host mounts (<c>kruxos mount add|list|remove</c>): a host directory made visible to one agent's
/// sandbox at <c>/mnt/&lt;label&gt;</c>. A change applies when the agent's sandbox next starts, so the
/// agent's running sandbox is stopped (its next call starts a fresh one).
/// </summary>
public sealed class MountCommands(SandboxHost sandbox)
{
    /// <summary>Runs one <c>mount.*</c> request.</summary>
    public string Execute(JsonNode? id, string method, JsonObject p)
    {
        var agent = p["agent"]?.GetValue<string>();
        if (!AgentName.TryParse(agent, out var name, out var why)) return Fail(id, "invalid_input", why);
        try
        {
            switch (method)
            {
                case Methods.MountAdd:
                {
                    var label = p["label"]?.GetValue<string>() ?? "";
                    var target = p["target"]?.GetValue<string>();
                    if (target is not null && target != "/mnt/" + label)
                        return Fail(id, "invalid_input", $"target must be /mnt/{label} (the label names the mount point)");
                    var entry = sandbox.Mounts.Add(name.Value, p["source"]?.GetValue<string>() ?? "", label, p["read_only"]?.GetValue<bool>() ?? false);
                    _ = sandbox.StopAgentAsync(name, CancellationToken.None);
                    return Ok(id, Json(entry));
                }
                case Methods.MountList:
                    return Ok(id, new JsonObject { ["mounts"] = new JsonArray([.. sandbox.Mounts.For(name.Value).Select(e => (JsonNode)Json(e))]) });
                case Methods.MountRemove:
                {
                    var label = p["label"]?.GetValue<string>() ?? "";
                    if (!sandbox.Mounts.Remove(name.Value, label)) return Fail(id, "NotFound", $"agent '{name}' has no mount labelled '{label}'");
                    _ = sandbox.StopAgentAsync(name, CancellationToken.None);
                    return Ok(id, new JsonObject { ["agent"] = name.Value, ["label"] = label, ["removed"] = true });
                }
                default:
                    return Fail(id, "unknown_method", $"unknown method '{method}'");
            }
        }
        catch (ArgumentException e)
        {
            return Fail(id, "invalid_input", e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal));
        }
        catch (IOException e)
        {
            return Fail(id, "io_error", e.Message);
        }
    }

    private static JsonObject Json(MountEntry e) => new()
    {
        ["agent"] = e.Agent,
        ["label"] = e.Label,
        ["source"] = e.Source,
        ["target"] = e.Target,
        ["read_only"] = e.ReadOnly,
    };
}
