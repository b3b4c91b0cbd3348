using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary>
/// <c>kruxos state list|get|set|delete|quota &lt;agent&gt; …</c> (an agent's persistent state) and
/// <c>kruxos state shared list|get|set|delete …</c> over the control socket. Writes go through the same entities as the
/// agents' (new versions, quotas, optimistic locking) and are audited by the gateway as the operator at the socket.
/// A value is JSON (<c>'{"a":1}'</c>, <c>42</c>, <c>'"text"'</c>); text that is not JSON is stored as a string.
/// </summary>
public static class StateCli
{
    /// <summary>The <c>state</c> command.</summary>
    public static Command Build(ControlClient client, TextWriter stdout, TextWriter stderr, Option<bool> json)
    {
        var state = new Command("state", "Agents' persistent state and the shared state (operator reads and audited writes)");
        Argument<string> Agent() => new("agent") { Description = "The agent" };
        Argument<string> Key() => new("key") { Description = "The key" };
        Argument<string> Value() => new("value") { Description = "The value: JSON, or text stored as a string" };

        var agent = Agent();
        var prefix = new Option<string?>("--prefix") { Description = "Only keys starting with this" };
        var list = new Command("list", "List an agent's persistent keys") { agent, prefix, json };
        list.SetAction((p, ct) => Call(client, stdout, stderr, M.StateList, new JsonObject { ["agent"] = p.GetValue(agent), ["prefix"] = p.GetValue(prefix) },
            p.GetValue(json), RenderEntries, ct));
        state.Subcommands.Add(list);

        var getAgent = Agent();
        var getKey = Key();
        var version = new Option<long?>("--version") { Description = "An earlier retained version" };
        var get = new Command("get", "Show one persistent value of an agent") { getAgent, getKey, version, json };
        get.SetAction((p, ct) => Call(client, stdout, stderr, M.StateGet,
            new JsonObject { ["agent"] = p.GetValue(getAgent), ["key"] = p.GetValue(getKey), ["version"] = p.GetValue(version) }, p.GetValue(json), RenderValue, ct));
        state.Subcommands.Add(get);

        var setAgent = Agent();
        var setKey = Key();
        var setValue = Value();
        var set = new Command("set", "Set a persistent value of an agent (a new version; audited)") { setAgent, setKey, setValue, json };
        set.SetAction((p, ct) => Call(client, stdout, stderr, M.StateSet,
            new JsonObject { ["agent"] = p.GetValue(setAgent), ["key"] = p.GetValue(setKey), ["value"] = ParseValue(p.GetValue(setValue)!) }, p.GetValue(json),
            r => $"Set version {Str(r, "version")} (previous {Str(r, "previous_version")}).\n", ct));
        state.Subcommands.Add(set);

        var delAgent = Agent();
        var delKey = Key();
        var delete = new Command("delete", "Delete a persistent key of an agent, every version (audited)") { delAgent, delKey, json };
        delete.SetAction((p, ct) => Call(client, stdout, stderr, M.StateDelete, new JsonObject { ["agent"] = p.GetValue(delAgent), ["key"] = p.GetValue(delKey) },
            p.GetValue(json), _ => "Deleted.\n", ct));
        state.Subcommands.Add(delete);

        var quotaAgent = Agent();
        var quota = new Command("quota", "Show an agent's persistent-state quota use") { quotaAgent, json };
        quota.SetAction((p, ct) => Call(client, stdout, stderr, M.StateQuota, new JsonObject { ["agent"] = p.GetValue(quotaAgent) }, p.GetValue(json), RenderQuota, ct));
        state.Subcommands.Add(quota);

        var shared = new Command("shared", "The shared state (global keys with optimistic locking)");
        var sharedPrefix = new Option<string?>("--prefix") { Description = "Only keys starting with this" };
        var sharedList = new Command("list", "List the shared keys") { sharedPrefix, json };
        sharedList.SetAction((p, ct) => Call(client, stdout, stderr, M.StateSharedList, new JsonObject { ["prefix"] = p.GetValue(sharedPrefix) }, p.GetValue(json),
            RenderEntries, ct));
        shared.Subcommands.Add(sharedList);
        var sharedGetKey = Key();
        var sharedGet = new Command("get", "Show one shared value") { sharedGetKey, json };
        sharedGet.SetAction((p, ct) => Call(client, stdout, stderr, M.StateSharedGet, new JsonObject { ["key"] = p.GetValue(sharedGetKey) }, p.GetValue(json),
            RenderValue, ct));
        shared.Subcommands.Add(sharedGet);
        var sharedSetKey = Key();
        var sharedSetValue = Value();
        var expected = new Option<long>("--expected-version") { Description = "The version you read (0 to create)", Required = true };
        var sharedSet = new Command("set", "Set a shared value (optimistic lock; you become owner_agent; audited)") { sharedSetKey, sharedSetValue, expected, json };
        sharedSet.SetAction((p, ct) => Call(client, stdout, stderr, M.StateSharedSet,
            new JsonObject { ["key"] = p.GetValue(sharedSetKey), ["value"] = ParseValue(p.GetValue(sharedSetValue)!), ["expected_version"] = p.GetValue(expected) },
            p.GetValue(json), r => $"Set version {Str(r, "version")}.\n", ct));
        shared.Subcommands.Add(sharedSet);
        var sharedDelKey = Key();
        var sharedDelete = new Command("delete", "Delete a shared key (audited)") { sharedDelKey, json };
        sharedDelete.SetAction((p, ct) => Call(client, stdout, stderr, M.StateSharedDelete, new JsonObject { ["key"] = p.GetValue(sharedDelKey) }, p.GetValue(json),
            _ => "Deleted.\n", ct));
        shared.Subcommands.Add(sharedDelete);
        state.Subcommands.Add(shared);
        return state;
    }

    /// <summary>The value argument: its JSON, or the text as a JSON string when it is not JSON.</summary>
    public static JsonNode? ParseValue(string text)
    {
        try
        {
            return JsonNode.Parse(text);
        }
        catch (JsonException)
        {
            return JsonValue.Create(text);
        }
    }

    private static string RenderEntries(JsonNode? r)
    {
        var rows = r!["entries"]!.AsArray();
        if (rows.Count == 0) return "No keys.\n";
        var text = new StringBuilder();
        foreach (var e in rows)
        {
            var owner = e!["owner_agent"] is { } o ? $"  {o}" : "";
            text.Append(CultureInfo.InvariantCulture, $"{Printable(Str(e, "key"))}  v{Str(e, "version")}  {Str(e, "size_bytes")} B  {Str(e, "updated_at")}{owner}\n");
        }
        text.Append(CultureInfo.InvariantCulture, $"{Str(r, "count")} key(s), {Str(r, "total_size_bytes")} bytes.\n");
        return text.ToString();
    }

    private static string RenderValue(JsonNode? r) =>
        r!["found"]?.GetValue<bool>() == false ? "Not found.\n" : $"{r["value"]?.ToJsonString() ?? "null"}\n(version {Str(r, "version")}, updated {Str(r, "updated_at")})\n";

    /// <summary><c>Used: 2.4 MB / 100.0 MB (2.4%), Keys: 47</c>.</summary>
    public static string RenderQuota(JsonNode? r)
    {
        static string Mb(long bytes) => (bytes / 1_048_576.0).ToString("0.0", CultureInfo.InvariantCulture) + " MB";
        var used = r!["used_bytes"]!.GetValue<long>();
        var limit = r["limit_bytes"]!.GetValue<long>();
        var percent = limit <= 0 ? 0 : 100.0 * used / limit;
        return $"Used: {Mb(used)} / {Mb(limit)} ({percent.ToString("0.0", CultureInfo.InvariantCulture)}%), Keys: {Str(r, "keys")}\n";
    }

    // Keys are agent-chosen text: control characters were refused when they were written; keep each on one line anyway.
    private static string Printable(string s) => s.ReplaceLineEndings(" ");

    private static string Str(JsonNode? node, string key) => CliCalls.Str(node, key);

    private static Task<int> Call(ControlClient client, TextWriter stdout, TextWriter stderr, string method, JsonObject parameters, bool asJson,
        Func<JsonNode?, string> render, CancellationToken ct)
    {
        foreach (var k in parameters.Where(kv => kv.Value is null && kv.Key != "value").Select(kv => kv.Key).ToList()) parameters.Remove(k);
        return CliCalls.CallAsync(client, stdout, stderr, method, parameters, asJson, render, indented: false, ct);
    }
}
