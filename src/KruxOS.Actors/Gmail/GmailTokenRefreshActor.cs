using Akka.Actor;
using Akka.Event;
using KruxOS.Core.OAuth;
using KruxOS.Proxy.Gmail;

namespace KruxOS.Actors.Gmail;

/// <summary>
/// Refreshes the Gmail access token before it expires (spec §10.4): every 60 s it checks the stored credential and
/// refreshes it when it expires within 5 minutes. The check runs as a piped task, never on this actor's thread, and at
/// most one at a time; a refused refresh flags the vault entry and raises the alert (inside <see cref="GmailTokens"/>).
/// </summary>
public sealed class GmailTokenRefreshActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly GmailTokens _tokens;
    private readonly TimeSpan _interval;
    private readonly CancellationTokenSource _stop = new();
    private bool _running;

    public GmailTokenRefreshActor(GmailTokens tokens, TimeSpan interval)
    {
        _tokens = tokens;
        _interval = interval;
        Receive<Tick>(_ => Check());
        Receive<Checked>(Done);
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The refresher's props (<paramref name="interval"/>: 60 s unless a test shortens it).</summary>
    public static Props Props(GmailTokens tokens, TimeSpan? interval = null) =>
        Akka.Actor.Props.Create(() => new GmailTokenRefreshActor(tokens, interval ?? TokenLifetime.CheckInterval));

    /// <inheritdoc />
    protected override void PreStart() => Timers.StartPeriodicTimer("refresh", Tick.Instance, _interval);

    /// <inheritdoc />
    protected override void PostStop()
    {
        _stop.Cancel();
        _stop.Dispose();
    }

    private void Check()
    {
        if (_running) return;
        _running = true;
        var token = _stop.Token;
        _tokens.RefreshIfDueAsync(token).PipeTo(Self,
            success: r => new Checked(r is null ? null : r.Ok, r?.Reason),
            failure: e => new Checked(false, e.GetType().Name));
    }

    private void Done(Checked c)
    {
        _running = false;
        if (c.Ok == false) _log.Warning("Gmail token refresh failed: {Reason}", c.Reason);
        else if (c.Ok == true) _log.Info("Gmail access token refreshed");
    }

    private sealed class Tick : INotInfluenceReceiveTimeout, IDeadLetterSuppression
    {
        public static readonly Tick Instance = new();
        private Tick() { }
    }

    private sealed record Checked(bool? Ok, string? Reason);
}
