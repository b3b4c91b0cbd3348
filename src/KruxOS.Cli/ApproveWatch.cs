using System.Text.Json.Nodes;
using System.Threading.Channels;
using KruxOS.Core.Control;
using static KruxOS.Cli.Output;
using M = KruxOS.Core.Control.ControlProtocol.Methods;

namespace KruxOS.Cli;

/// <summary>One pending approval as <c>approve watch</c> shows it.</summary>
public sealed record PendingApproval(string Id, string Agent, string Capability, string Arguments);

/// <summary>What a key press or an input line asks <c>approve watch</c> to do.</summary>
public abstract record WatchCommand
{
    private WatchCommand() { }

    /// <summary>Decide <paramref name="Id"/>.</summary>
    public sealed record Decide(string Id, bool Approve, string Reason) : WatchCommand;

    /// <summary>Move the selection by <paramref name="Delta"/>.</summary>
    public sealed record Move(int Delta) : WatchCommand;

    /// <summary>Stop watching.</summary>
    public sealed record Quit : WatchCommand;

    /// <summary>Show the keys.</summary>
    public sealed record Help : WatchCommand;

    /// <summary>Input that means nothing here; <paramref name="Message"/> says why.</summary>
    public sealed record Invalid(string Message) : WatchCommand;

    /// <summary>Nothing to do (an empty line, an unbound key).</summary>
    public sealed record None : WatchCommand;
}

/// <summary>
/// The state of <c>kruxos approve watch</c>: the pending approvals in arrival order and the selected one,
/// fed by the list at start and the <c>approval_requested</c> / <c>approval_resolved</c> events, and the
/// meaning of each key or line. Pure: the command loop does the I/O.
/// </summary>
public sealed class ApprovalWatchView
{
    /// <summary>The reason recorded for a decision taken by a key press without one.</summary>
    public const string DefaultReason = "decided in kruxos approve watch";

    /// <summary>The key help line.</summary>
    public const string Keys = "keys: a approve · r reject · j/n next · k/p previous · q quit   (lines: a|r [appr-id] [reason])";

    private readonly List<PendingApproval> _pending = [];
    private int _selected;

    /// <summary>Pending approvals, oldest first.</summary>
    public IReadOnlyList<PendingApproval> Pending => _pending;

    /// <summary>The approval a bare <c>a</c> or <c>r</c> decides, or null when none is pending.</summary>
    public PendingApproval? Selected => _pending.Count == 0 ? null : _pending[_selected];

    /// <summary>Adds a pending approval (once).</summary>
    public bool Add(PendingApproval approval)
    {
        if (_pending.Any(p => p.Id == approval.Id)) return false;
        _pending.Add(approval);
        return true;
    }

    /// <summary>Removes a resolved approval, keeping the selection on a neighbour.</summary>
    public bool Remove(string id)
    {
        var index = _pending.FindIndex(p => p.Id == id);
        if (index < 0) return false;
        _pending.RemoveAt(index);
        if (index < _selected || _selected >= _pending.Count) _selected = Math.Max(0, _selected - 1);
        return true;
    }

    /// <summary>Applies one line of the supervision stream; true when the pending list changed.</summary>
    public bool Apply(JsonNode? evt)
    {
        var data = evt?["data"];
        if (data?["approval_id"] is not JsonValue idValue || !idValue.TryGetValue<string>(out var id)) return false;
        return Str(evt, "type") switch
        {
            "approval_requested" => Add(new PendingApproval(id, Str(evt, "agent"), Str(data, "capability"), data["arguments"]?.ToJsonString() ?? "{}")),
            "approval_resolved" => Remove(id),
            _ => false,
        };
    }

    /// <summary>Moves the selection, staying inside the list.</summary>
    public void MoveSelection(int delta) => _selected = _pending.Count == 0 ? 0 : Math.Clamp(_selected + delta, 0, _pending.Count - 1);

    /// <summary>The meaning of one key press on a terminal.</summary>
    public WatchCommand Interpret(char key) => char.ToLowerInvariant(key) switch
    {
        'a' => Selected is { } s ? new WatchCommand.Decide(s.Id, true, DefaultReason) : new WatchCommand.Invalid("nothing is pending"),
        'r' => Selected is { } s ? new WatchCommand.Decide(s.Id, false, DefaultReason) : new WatchCommand.Invalid("nothing is pending"),
        'j' or 'n' => new WatchCommand.Move(1),
        'k' or 'p' => new WatchCommand.Move(-1),
        'q' => new WatchCommand.Quit(),
        '?' or 'h' => new WatchCommand.Help(),
        _ => new WatchCommand.None(),
    };

    /// <summary>
    /// The meaning of one input line (a pipe, or a terminal without key reading): <c>a</c> or <c>r</c>, then
    /// optionally an approval id (<c>appr-…</c>; without one, the selected approval), then optionally a reason.
    /// </summary>
    public WatchCommand Interpret(string line)
    {
        var parts = line.Trim().Split(' ', 2, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) return new WatchCommand.None();
        if (parts[0] is "q" or "quit") return new WatchCommand.Quit();
        if (parts[0] is not ("a" or "r")) return new WatchCommand.Invalid("usage: a|r [appr-id] [reason]   (q quits)");
        var approve = parts[0] == "a";
        var rest = parts.Length > 1 ? parts[1] : "";
        string id;
        if (rest.StartsWith("appr-", StringComparison.Ordinal))
        {
            var idAndReason = rest.Split(' ', 2, StringSplitOptions.TrimEntries);
            id = idAndReason[0];
            rest = idAndReason.Length > 1 ? idAndReason[1] : "";
        }
        else if (Selected is { } s) id = s.Id;
        else return new WatchCommand.Invalid("nothing is pending");
        return new WatchCommand.Decide(id, approve, rest.Length > 0 ? rest : DefaultReason);
    }

    /// <summary>The pending list as lines, the selected one marked with <c>&gt;</c>.</summary>
    public IEnumerable<string> Render()
    {
        if (_pending.Count == 0)
        {
            yield return "no approvals pending";
            yield break;
        }
        for (var i = 0; i < _pending.Count; i++)
        {
            var p = _pending[i];
            yield return $"{(i == _selected ? '>' : ' ')} {p.Id}  {p.Agent}  {p.Capability}  {Clip(p.Arguments, 60)}";
        }
    }

    private static string Clip(string s, int max) => s.Length <= max ? s : s[..(max - 1)] + "…";
}

/// <summary>
/// <c>kruxos approve watch</c>: shows pending approvals live and decides them. On a terminal single keys act on
/// the selected request (<c>a</c>, <c>r</c>, <c>j</c>/<c>k</c>, <c>q</c>); from a pipe each line is a command, and
/// the supervision events are echoed as JSON lines for other programs to read.
/// </summary>
internal static class ApproveWatch
{
    private abstract record Input
    {
        public sealed record Event(string Json) : Input;

        public sealed record Key(char Char) : Input;

        public sealed record Line(string Text) : Input;

        public sealed record EventsEnded : Input;

        public sealed record InputEnded : Input;
    }

    public static async Task<int> RunAsync(ControlClient client, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        var interactive = !Console.IsInputRedirected;
        var view = new ApprovalWatchView();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var inputs = Channel.CreateUnbounded<Input>(new UnboundedChannelOptions { SingleReader = true });
        // Subscribe first, then list: a request made in between is in the list, the stream, or both (added once).
        _ = PumpEventsAsync(client, inputs.Writer, cts.Token);
        var listed = await client.CallAsync(M.ApprovalList, new JsonObject { ["status"] = "pending" }, ct).ConfigureAwait(false);
        if (!listed.Ok)
        {
            await stderr.WriteLineAsync($"error: {listed.ErrorMessage} ({listed.ErrorType})").ConfigureAwait(false);
            await cts.CancelAsync().ConfigureAwait(false);
            return CliApp.Refused;
        }
        foreach (var a in listed.Result!["approvals"]!.AsArray())
            view.Add(new PendingApproval(Str(a, "id"), Str(a, "agent"), Str(a, "capability"), a!["arguments"]?.ToJsonString() ?? "{}"));

        if (interactive) StartKeyReader(inputs.Writer, cts.Token);
        // Console.In reads synchronously even through ReadLineAsync: keep it off this loop's thread.
        else _ = Task.Run(() => PumpLinesAsync(inputs.Writer, cts.Token), CancellationToken.None);

        if (interactive) await ShowAsync(stdout, view, ApprovalWatchView.Keys).ConfigureAwait(false);
        try
        {
            await foreach (var input in inputs.Reader.ReadAllAsync(cts.Token).ConfigureAwait(false))
            {
                switch (input)
                {
                    case Input.Event e:
                        if (!interactive) await stdout.WriteLineAsync(e.Json).ConfigureAwait(false);
                        if (view.Apply(ParseOrNull(e.Json)) && interactive) await ShowAsync(stdout, view, null).ConfigureAwait(false);
                        break;
                    case Input.Key k:
                        if (!await ExecuteAsync(view.Interpret(k.Char), client, view, stdout, stderr, interactive, cts.Token).ConfigureAwait(false)) return 0;
                        break;
                    case Input.Line l:
                        if (!await ExecuteAsync(view.Interpret(l.Text), client, view, stdout, stderr, interactive, cts.Token).ConfigureAwait(false)) return 0;
                        break;
                    case Input.EventsEnded:
                        await stderr.WriteLineAsync("the gateway closed the event stream").ConfigureAwait(false);
                        return CliApp.Unreachable;
                    case Input.InputEnded:
                        // End of input on a pipe: keep streaming events until interrupted.
                        break;
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        finally
        {
            await cts.CancelAsync().ConfigureAwait(false);
        }
        return 0;
    }

    // False when the command ends the watch.
    private static async Task<bool> ExecuteAsync(WatchCommand command, ControlClient client, ApprovalWatchView view, TextWriter stdout, TextWriter stderr,
        bool interactive, CancellationToken ct)
    {
        switch (command)
        {
            case WatchCommand.Quit:
                return false;
            case WatchCommand.Help:
                await stdout.WriteLineAsync(ApprovalWatchView.Keys).ConfigureAwait(false);
                break;
            case WatchCommand.Move m:
                view.MoveSelection(m.Delta);
                if (interactive) await ShowAsync(stdout, view, null).ConfigureAwait(false);
                break;
            case WatchCommand.Invalid i:
                await stderr.WriteLineAsync(i.Message).ConfigureAwait(false);
                break;
            case WatchCommand.Decide d:
                var r = await client.CallAsync(d.Approve ? M.ApprovalApprove : M.ApprovalReject,
                    new JsonObject { ["id"] = d.Id, ["reason"] = d.Reason }, ct).ConfigureAwait(false);
                await stdout.WriteLineAsync(r.Ok ? $"{Str(r.Result, "id")} {Str(r.Result, "status")}" : $"error: {r.ErrorMessage} ({r.ErrorType})").ConfigureAwait(false);
                if (r.Ok && view.Remove(d.Id) && interactive) await ShowAsync(stdout, view, null).ConfigureAwait(false);
                break;
        }
        return true;
    }

    private static async Task ShowAsync(TextWriter stdout, ApprovalWatchView view, string? header)
    {
        if (header is not null) await stdout.WriteLineAsync(header).ConfigureAwait(false);
        foreach (var line in view.Render()) await stdout.WriteLineAsync(line).ConfigureAwait(false);
        await stdout.FlushAsync().ConfigureAwait(false);
    }

    private static async Task PumpEventsAsync(ControlClient client, ChannelWriter<Input> writer, CancellationToken ct)
    {
        try
        {
            await foreach (var line in client.StreamAsync(M.Watch, new JsonObject { ["types"] = "approval_requested,approval_resolved" }, ct).ConfigureAwait(false))
                await writer.WriteAsync(new Input.Event(line), ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) { return; }
        catch (GatewayUnreachableException) { }
        catch (IOException) { }
        writer.TryWrite(new Input.EventsEnded());
    }

    private static async Task PumpLinesAsync(ChannelWriter<Input> writer, CancellationToken ct)
    {
        try
        {
            while (await Console.In.ReadLineAsync(ct).ConfigureAwait(false) is { } line)
                await writer.WriteAsync(new Input.Line(line), ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) { return; }
        writer.TryWrite(new Input.InputEnded());
    }

    // Console.ReadKey blocks its thread, so it gets one of its own; the process exits when the watch ends.
    private static void StartKeyReader(ChannelWriter<Input> writer, CancellationToken ct)
    {
        var thread = new Thread(() =>
        {
            while (!ct.IsCancellationRequested)
            {
                var key = Console.ReadKey(intercept: true);
                var c = key.Key switch
                {
                    ConsoleKey.DownArrow => 'j',
                    ConsoleKey.UpArrow => 'k',
                    _ => key.KeyChar,
                };
                if (!writer.TryWrite(new Input.Key(c))) return;
            }
        }) { IsBackground = true, Name = "approve-watch-keys" };
        thread.Start();
    }

    private static JsonNode? ParseOrNull(string line)
    {
        try { return JsonNode.Parse(line); }
        catch (System.Text.Json.JsonException) { return null; }
    }
}
