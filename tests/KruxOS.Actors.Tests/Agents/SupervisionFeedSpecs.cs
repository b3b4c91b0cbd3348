using System.Text.Json;
using Akka.Actor;
using KruxOS.Actors.Agents;
using KruxOS.Core.Supervision;
using Xunit;

namespace KruxOS.Actors.Tests.Agents;

/// <summary>
/// The supervision feed behind <c>kruxos watch</c> (and the dashboard's event stream): a subscription sees only the agent
/// and types it asked for, and a reader that falls behind loses the oldest events, never the newest, and never holds up
/// the event stream.
/// </summary>
public sealed class SupervisionFeedSpecs
{
    private static readonly JsonElement NoData = JsonDocument.Parse("{}").RootElement.Clone();

    private static SupervisionEvent Event(string type, string? agent, int n) =>
        new(type, DateTimeOffset.UnixEpoch.AddSeconds(n), agent, $"s-{n}", NoData);

    private static async Task<T> WithSystemAsync<T>(Func<ActorSystem, Task<T>> run)
    {
        var system = ActorSystem.Create("feed-" + Guid.NewGuid().ToString("N")[..8]);
        try { return await run(system); }
        finally { await system.Terminate().WaitAsync(TimeSpan.FromSeconds(30)); }
    }

    // Publishes a last marker for the subscription and reads until it arrives (delivery is asynchronous).
    private static async Task<List<SupervisionEvent>> DrainAsync(ActorSystem system, SupervisionFeed.Subscription subscription, SupervisionEvent marker, bool publish = true)
    {
        if (publish) system.EventStream.Publish(marker);
        var seen = new List<SupervisionEvent>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var e in subscription.Events.ReadAllAsync(timeout.Token))
        {
            seen.Add(e);
            if (ReferenceEquals(e, marker)) break;
        }
        return seen;
    }

    [Fact]
    public Task Should_deliver_only_the_agent_and_types_asked_for() => WithSystemAsync(async system =>
    {
        // arrange
        var feed = new SupervisionFeed(system);
        using var subscription = feed.Subscribe("alpha", new HashSet<string> { SupervisionEventTypes.CapabilityInvoked, SupervisionEventTypes.SessionEnded });

        // act
        system.EventStream.Publish(Event(SupervisionEventTypes.CapabilityInvoked, "alpha", 1));
        system.EventStream.Publish(Event(SupervisionEventTypes.CapabilityInvoked, "beta", 2));
        system.EventStream.Publish(Event(SupervisionEventTypes.SessionStarted, "alpha", 3));
        system.EventStream.Publish(Event(SupervisionEventTypes.CapabilityInvoked, null, 4));
        var seen = await DrainAsync(system, subscription, Event(SupervisionEventTypes.SessionEnded, "alpha", 5));

        // assert
        Assert.Equal(["s-1", "s-5"], seen.Select(e => e.SessionId));
        return true;
    });

    [Fact]
    public Task Should_deliver_everything_when_no_filter_is_given() => WithSystemAsync(async system =>
    {
        // arrange
        var feed = new SupervisionFeed(system);
        using var subscription = feed.Subscribe(null, new HashSet<string>());

        // act
        system.EventStream.Publish(Event(SupervisionEventTypes.SessionStarted, "alpha", 1));
        system.EventStream.Publish(Event(SupervisionEventTypes.CapabilityInvoked, null, 2));
        var seen = await DrainAsync(system, subscription, Event(SupervisionEventTypes.SessionEnded, "beta", 3));

        // assert
        Assert.Equal(["s-1", "s-2", "s-3"], seen.Select(e => e.SessionId));
        return true;
    });

    [Fact]
    public Task Should_drop_the_oldest_events_when_the_reader_falls_behind() => WithSystemAsync(async system =>
    {
        // arrange: a subscriber that reads nothing while 1100 events arrive
        var feed = new SupervisionFeed(system);
        using var subscription = feed.Subscribe("alpha", new HashSet<string>());
        const int published = 1100;

        // act
        for (var n = 0; n < published; n++) system.EventStream.Publish(Event(SupervisionEventTypes.CapabilityInvoked, "alpha", n));
        var marker = Event(SupervisionEventTypes.SessionEnded, "alpha", published);
        system.EventStream.Publish(marker);
        // the reader really falls behind: it starts only once the forwarder has pushed everything (the oldest kept
        // event is then the first of the newest 1024; with any other full mode it never becomes that one)
        var oldestKept = $"s-{published + 1 - SupervisionFeed.Capacity}";
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (!(subscription.Events.TryPeek(out var oldest) && oldest.SessionId == oldestKept) && waited.Elapsed < TimeSpan.FromSeconds(30))
            await Task.Delay(20);
        var seen = await DrainAsync(system, subscription, marker, publish: false);

        // assert: the newest 1023 plus the marker survive, in order
        Assert.Equal(SupervisionFeed.Capacity, seen.Count);
        Assert.Equal($"s-{published + 1 - SupervisionFeed.Capacity}", seen[0].SessionId);
        Assert.Equal($"s-{published}", seen[^1].SessionId);
        return true;
    });

    [Fact]
    public Task Should_stop_delivering_once_disposed() => WithSystemAsync(async system =>
    {
        // arrange
        var feed = new SupervisionFeed(system);
        var subscription = feed.Subscribe(null, new HashSet<string>());
        var other = feed.Subscribe(null, new HashSet<string>());

        // act
        subscription.Dispose();
        subscription.Dispose();
        await DrainAsync(system, other, Event(SupervisionEventTypes.SessionEnded, "alpha", 1));

        // assert: the marker reached the live subscription, and nothing reached the disposed one
        Assert.False(subscription.Events.TryRead(out _));
        other.Dispose();
        return true;
    });
}
