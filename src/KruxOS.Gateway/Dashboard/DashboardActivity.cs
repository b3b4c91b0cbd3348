using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Actors.Agents;
using KruxOS.Core;
using KruxOS.Core.Supervision;

namespace KruxOS.Gateway.Dashboard;

/// <summary>
/// The dashboard's activity: the last <see cref="Kept"/> supervision events (<c>GET /api/activity</c>), kept by one
/// subscription to <see cref="SupervisionFeed"/> from start, and the rendering every consumer shares (the SSE stream
/// included). In a cluster the feed carries every node's events, so each node's dashboard shows the whole cluster's.
/// </summary>
public sealed class DashboardActivity(SupervisionFeed feed) : BackgroundService
{
    /// <summary>Events kept for the list.</summary>
    public const int Kept = 200;

    private readonly LinkedList<SupervisionEvent> _recent = new();

    /// <summary>The kept events matching the filters, newest first.</summary>
    public IReadOnlyList<SupervisionEvent> Recent(Func<SupervisionEvent, bool> filter)
    {
        lock (_recent) return [.. _recent.Reverse().Where(filter)];
    }

    /// <summary>An event's JSON (the spec §5 envelope).</summary>
    public static JsonObject ToJson(SupervisionEvent e)
    {
        var json = new JsonObject
        {
            ["type"] = e.Type,
            ["timestamp"] = e.Timestamp.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
            ["agent"] = e.Agent,
            ["session_id"] = e.SessionId,
            ["data"] = JsonNode.Parse(e.Data.GetRawText()),
        };
        // In a cluster every event names the node it happened on (ADR 0059).
        if (e.Node is { } node) json["node"] = node;
        return json;
    }

    /// <summary>The capability an event concerns, when it names one.</summary>
    public static string? CapabilityOf(SupervisionEvent e) =>
        e.Data.ValueKind == JsonValueKind.Object && e.Data.TryGetProperty("capability", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var subscription = feed.Subscribe(null, new HashSet<string>());
        try
        {
            await foreach (var e in subscription.Events.ReadAllAsync(stoppingToken).ConfigureAwait(false))
                lock (_recent)
                {
                    _recent.AddLast(e);
                    while (_recent.Count > Kept) _recent.RemoveFirst();
                }
        }
        catch (OperationCanceledException) { }
    }
}
