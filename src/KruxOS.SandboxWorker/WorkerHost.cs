using System.Text.Json;
using System.Text.Json.Nodes;
using KruxOS.Core;
using KruxOS.Core.Errors;
using KruxOS.Sandbox.Protocol;
using KruxOS.SandboxWorker.Ops;
using KruxOS.SandboxWorker.Paths;
using KruxOS.SandboxWorker.Protocol;

namespace KruxOS.SandboxWorker;

/// <summary>Per-request context the gateway adds next to the validated arguments.</summary>
/// <param name="Agent">The agent the call is for.</param>
/// <param name="TrashRetentionHours">How long a deleted entry stays restorable.</param>
/// <param name="GitRemotes">The remotes the agent's policy allows (ADR 0012).</param>
/// <param name="RelayToken">The gateway's token for this call's git relay grant (ADR 0012); null when the call has none.</param>
internal sealed record CallContext(string Agent, int TrashRetentionHours, KruxOS.Core.Policy.GitRemoteAllowlist GitRemotes, string? RelayToken = null);

/// <summary>Reads request frames, runs each concurrently, writes response and event frames under one lock.</summary>
internal sealed class WorkerHost
{
    private readonly Stream _output;
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly PathResolver _paths;
    private readonly FileOps _files;
    private readonly GitOps _git;
    private readonly Watches _watches;
    private readonly StreamedFiles _streamed;
    private string _memoryLimit = "unknown";

    private WorkerHost(Stream output, PathResolver paths, string trashDir, string agent, string? gitRelay, GitSpawner spawner)
    {
        _output = output;
        var trash = new Trash(trashDir, paths);
        var atomicWrites = new AtomicWrites();
        _paths = paths;
        _files = new FileOps(paths, trash, atomicWrites);
        _git = new GitOps(paths, agent, gitRelay, spawner);
        _watches = new Watches(paths, atomicWrites, PublishEventAsync);
        _streamed = new StreamedFiles(paths, atomicWrites);
    }

    public static async Task<int> RunAsync(string[] args, Stream input, Stream output)
    {
        string? agent = null, trash = null, gitRelay = null;
        var landlock = false;
        string? landlocked = null;
        var roots = new List<Root>();
        for (var i = 0; i < args.Length; i += 2)
        {
            if (args[i] == "--landlock") { landlock = true; i--; continue; }
            if (i + 1 >= args.Length) break;
            switch (args[i])
            {
                case "--agent": agent = args[i + 1]; break;
                case "--trash": trash = args[i + 1]; break;
                case "--git-relay": gitRelay = args[i + 1]; break;
                case "--landlocked": landlocked = args[i + 1]; break;
                case "--root":
                case "--mount":
                    var spec = args[i + 1];
                    var ro = spec.EndsWith(":ro", StringComparison.Ordinal);
                    if (ro) spec = spec[..^3];
                    var eq = spec.IndexOf('=');
                    var real = Native.Libc.RealPath(spec[(eq + 1)..]);
                    if (eq <= 0 || real is null) { await Console.Error.WriteLineAsync($"kruxos-worker: bad root '{args[i + 1]}'").ConfigureAwait(false); return 2; }
                    roots.Add(new Root(spec[..eq], real, ro));
                    break;
            }
        }
        if (agent is null || trash is null || !roots.Any(r => r.Virtual == "/workspace"))
        {
            await Console.Error.WriteLineAsync("kruxos-worker: --agent, --trash and --root /workspace=… are required").ConfigureAwait(false);
            return 2;
        }
        var realTrash = Native.Libc.RealPath(trash) ?? trash;
        var git = Native.GitBinaries.Locate();
        string landlockState;
        if (landlocked is not null) landlockState = Native.Landlock.VerifyWorkerLayer(landlocked);
        else if (!landlock) landlockState = "not applied (disabled by Sandbox:WorkerLandlock=false)";
        else if (git is null) landlockState = "not applied (git is not installed, so the execute rules cannot be built)";
        // Returns only when Landlock could not be applied; the gateway logs the reason from the ready event.
        else landlockState = Native.Landlock.RestrictAndReexec(roots, realTrash, git, args);
        var applied = landlockState.StartsWith("applied", StringComparison.Ordinal);
        // No process of the sandbox's uid (git included) may open this process's fds, memory or environment via /proc.
        var dumpable = Native.Libc.MakeNonDumpable() ? "non-dumpable" : "DUMPABLE (prctl failed)";
        using var spawner = new GitSpawner(git, roots, realTrash, restrict: applied);
        var host = new WorkerHost(output, new PathResolver(roots), trash, agent, gitRelay, spawner);
        // Announce readiness (and what Landlock really did, measured in this process) so the gateway can report it.
        await host.WriteAsync(new JsonObject
        {
            ["event"] = "ready", ["pid"] = Environment.ProcessId,
            ["landlock"] = landlockState, ["landlock_git"] = spawner.State, ["process"] = dumpable,
        }).ConfigureAwait(false);
        while (true)
        {
            byte[]? frame;
            try { frame = await Framing.ReadAsync(input, CancellationToken.None).ConfigureAwait(false); }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                await Console.Error.WriteLineAsync($"kruxos-worker: {e.Message}").ConfigureAwait(false);
                return 3;
            }
            if (frame is null) return 0;
            _ = Task.Run(() => host.HandleAsync(frame));
        }
    }

    private async Task HandleAsync(byte[] frame)
    {
        long id = -1;
        JsonObject response;
        try
        {
            using var doc = JsonDocument.Parse(frame);
            var root = doc.RootElement;
            id = root.GetProperty("id").GetInt64();
            var op = root.GetProperty("op").GetString() ?? string.Empty;
            var args = root.TryGetProperty("args", out var a) ? a : CoreJson.EmptyObject;
            var ctx = ReadContext(root);
            if (root.TryGetProperty("ctx", out var c) && c.TryGetProperty("memory_limit", out var ml) && ml.GetString() is { } limit) _memoryLimit = limit;
            // Paths the gateway decided on must still resolve to themselves (ADR 0023); this request's operations only.
            PathResolver.Decided = root.TryGetProperty("ctx", out var dc) && dc.TryGetProperty("paths_decided", out var d) && d.ValueKind == JsonValueKind.True;
            // A walk decided entry by entry reaches only the entries the gateway let through (ADR 0028); this request only.
            Walker.Allowed = root.TryGetProperty("ctx", out var wc) && wc.TryGetProperty("walk_allowed", out var wa) && wa.ValueKind == JsonValueKind.Array
                ? wa.EnumerateArray().Select(e => e.ValueKind == JsonValueKind.String ? _paths.RealOf(e.GetString()!) : null).OfType<string>().ToHashSet(StringComparer.Ordinal)
                : null;
            var data = await DispatchAsync(op, args, ctx).ConfigureAwait(false);
            response = new JsonObject { ["id"] = id, ["ok"] = true, ["data"] = data };
        }
        catch (WorkerException e)
        {
            response = Failure(id, e.Error, e.PathEscape);
        }
        catch (OutOfMemoryException)
        {
            // The runtime's heap limit follows the cgroup's memory limit: running out is the sandbox's limit, not a bug.
            GC.Collect();
            response = Failure(id, StructuredError.Create("ResourceExhausted", $"Resource exhausted: memory at the sandbox limit (limit: {_memoryLimit})")
                .WithRecovery("check_usage", "Look at your session's resource usage.", "agent.session")
                .WithRecovery("cleanup", "Work on smaller inputs or fewer files per call.")
                .WithContext("resource", "memory").WithContext("limit", _memoryLimit).WithContext("current", "limit reached"), false);
        }
        catch (Exception e)
        {
            response = Failure(id, Errors.Internal($"worker failed: {e.GetType().Name}: {e.Message}"), false);
        }
        try { await WriteAsync(response).ConfigureAwait(false); }
        catch (IOException) { Environment.Exit(4); }
    }

    private static JsonObject Failure(long id, StructuredError error, bool escape) => new()
    {
        ["id"] = id,
        ["ok"] = false,
        ["error"] = JsonSerializer.SerializeToNode(error, CoreJson.Options),
        ["path_escape"] = escape,
    };

    private static CallContext ReadContext(JsonElement root)
    {
        if (!root.TryGetProperty("ctx", out var c)) return new CallContext("agent", 24, KruxOS.Core.Policy.GitRemoteAllowlist.None);
        // git_remotes: one array per policy layer (ADR 0012); anything malformed allows nothing.
        var remotes = c.TryGetProperty("git_remotes", out var r) && r.ValueKind == JsonValueKind.Array
            && r.EnumerateArray().All(l => l.ValueKind == JsonValueKind.Array)
            ? new KruxOS.Core.Policy.GitRemoteAllowlist([.. r.EnumerateArray().Select(l =>
                System.Collections.Immutable.ImmutableArray.CreateRange(l.EnumerateArray().Select(x => x.GetString() ?? string.Empty).Where(x => x.Length > 0)))])
            : KruxOS.Core.Policy.GitRemoteAllowlist.None;
        return new CallContext(
            c.TryGetProperty("agent", out var ag) ? ag.GetString() ?? "agent" : "agent",
            c.TryGetProperty("trash_retention_hours", out var h) ? h.GetInt32() : 24,
            remotes,
            c.TryGetProperty("relay_token", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null);
    }

    private Task<JsonNode> DispatchAsync(string op, JsonElement args, CallContext ctx) => op switch
    {
        "ping" => Task.FromResult<JsonNode>(new JsonObject { ["pong"] = true, ["uid"] = Native.Libc.geteuid() }),
        "paths.resolve" => Task.FromResult(PathQueries.Resolve(_paths, args)),
        "paths.process" => Task.FromResult(ProcessPaths.Resolve(_paths, args)),
        "paths.walk" => Task.FromResult(WalkQueries.Entries(_paths, args)),
        Watches.Capability => Task.FromResult<JsonNode>(_watches.Add(args)),
        "filesystem.unwatch" => Task.FromResult<JsonNode>(_watches.Remove(args)),
        StreamedFiles.Operation => Task.FromResult(_streamed.Run(args)),
        _ when op.StartsWith("filesystem.", StringComparison.Ordinal) => Task.FromResult(_files.Run(op, args, ctx)),
        _ when op.StartsWith("git.", StringComparison.Ordinal) => _git.RunAsync(op, args, ctx),
        _ => throw new WorkerException(Errors.UnknownCapability(op)),
    };

    private Task PublishEventAsync(JsonObject data) => WriteAsync(new JsonObject { ["event"] = "watch", ["data"] = data });

    private async Task WriteAsync(JsonObject message)
    {
        var bytes = JsonSerializer.SerializeToUtf8Bytes(message, CoreJson.Options);
        await _writeLock.WaitAsync().ConfigureAwait(false);
        try { await Framing.WriteAsync(_output, bytes, CancellationToken.None).ConfigureAwait(false); }
        finally { _writeLock.Release(); }
    }
}
