using System.Collections.Frozen;
using System.Collections.Immutable;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Capabilities;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using KruxOS.Core.Errors;
using KruxOS.Core.Sessions;
using ModelContextProtocol.Protocol;
using KruxOS.Core.Policy;

namespace KruxOS.Gateway.Mcp;

/// <summary>
/// Renders the capability catalog and call results into MCP shapes: the per-principal tool list
/// (blocked tools omitted, each tool annotated with its tier) and <c>tools/call</c> results.
/// </summary>
public sealed class ToolCatalogView(CapabilityCatalog catalog, IPolicySeam policy)
{
    // A capability's input schema depends only on its immutable definition: build each once, not per tools/list.
    private readonly FrozenDictionary<string, JsonElement> _schemas =
        catalog.Registry.All.ToDictionary(d => d.Name.Value, InputSchema.For, StringComparer.Ordinal)
            .ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>
    /// What <see cref="ToolsFor"/> shows a principal, reduced to what can change: the tier of every capability, in
    /// catalogue order (<see cref="Tier.Blocked"/> for a hidden one). Names, descriptions and schemas come from the
    /// fixed catalogue, so two equal arrays mean two equal tool lists.
    /// </summary>
    public ImmutableArray<Tier> VisibleTiers(Principal principal)
    {
        var all = catalog.Registry.All;
        var tiers = new Tier[all.Length];
        for (var i = 0; i < all.Length; i++) tiers[i] = policy.VisibleTier(principal, all[i]);
        return ImmutableCollectionsMarshal.AsImmutableArray(tiers);
    }

    /// <summary>The tools a principal may see.</summary>
    public List<Tool> ToolsFor(Principal principal)
    {
        var tools = new List<Tool>(catalog.Registry.All.Length);
        foreach (var d in catalog.Registry.All)
        {
            var tier = policy.VisibleTier(principal, d);
            if (tier == Tier.Blocked) continue;
            tools.Add(new Tool
            {
                Name = d.ToolName,
                Description = Describe(d, tier),
                InputSchema = _schemas[d.Name.Value],
                Meta = new JsonObject
                {
                    ["kruxos"] = new JsonObject
                    {
                        ["capability"] = d.Name.Value,
                        ["policy_tier"] = tier.ToWire(),
                        ["version"] = d.Version,
                    },
                },
            });
        }
        return tools;
    }

    /// <summary>The description shown to the model: purpose, when to use it, and the tier.</summary>
    public static string Describe(CapabilityDefinition d, Tier tier)
    {
        var text = d.Purpose;
        if (!string.IsNullOrWhiteSpace(d.WhenToUse)) text += " " + d.WhenToUse;
        return text + $" [policy tier: {tier.ToWire()}]";
    }

    /// <summary>Renders a pipeline result as an MCP <c>tools/call</c> result.</summary>
    public static CallToolResult Render(ToolCallResult result)
    {
        if (result.Error is { } error)
            return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = ErrorText(error) }] };
        var text = result.Data is { } data ? data.GetRawText() : "{}";
        return new CallToolResult { Content = [new TextContentBlock { Text = text }] };
    }

    /// <summary>The MCP error text: <c>{error, message, recovery}</c> plus retry hints and context.</summary>
    public static string ErrorText(StructuredError error)
    {
        var o = new JsonObject
        {
            ["error"] = error.ErrorType,
            ["message"] = error.Message,
            ["recovery"] = new JsonArray([.. error.Recovery.Select(r => (JsonNode)RecoveryNode(r))]),
            ["retryable"] = error.Retryable,
        };
        if (error.RetryAfterSeconds is { } ra) o["retry_after"] = ra;
        if (!error.Context.IsEmpty) o["context"] = ContextNode(error);
        return o.ToJsonString(CoreJson.Options);
    }

    internal static JsonObject RecoveryNode(RecoveryAction r)
    {
        var n = new JsonObject { ["action"] = r.Action, ["description"] = r.Description };
        if (r.Capability is not null) n["capability"] = r.Capability;
        return n;
    }

    internal static JsonObject ContextNode(StructuredError error)
    {
        var c = new JsonObject();
        foreach (var (k, v) in error.Context) c[k] = JsonNode.Parse(v.GetRawText());
        return c;
    }

    /// <summary>Turns MCP call arguments into one JSON object element.</summary>
    public static JsonElement Arguments(IDictionary<string, JsonElement>? arguments)
    {
        if (arguments is null || arguments.Count == 0) return CoreJson.EmptyObject;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            foreach (var (k, v) in arguments)
            {
                w.WritePropertyName(k);
                // The value's bytes as they arrived: re-encoding would throw on malformed text (a lone surrogate),
                // which the session refuses as InvalidInput naming the field instead.
                w.WriteRawValue(JsonMarshal.GetRawUtf8Value(v), skipInputValidation: true);
            }
            w.WriteEndObject();
        }
        using var doc = JsonDocument.Parse(buffer.WrittenMemory);
        return doc.RootElement.Clone();
    }
}
