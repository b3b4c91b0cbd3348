using System.Globalization;
using System.Text.Json;
using KruxOS.Sandbox.Isolation;
using KruxOS.Sandbox.Native;
using KruxOS.Sandbox.Worker;

namespace KruxOS.Sandbox.Health;

/// <summary>
/// What is really in force of Landlock, for <c>kruxos sandbox diagnose</c> and the <c>sandbox-confinement</c>
/// health check. Never a configuration flag: diagnose starts a real worker and reads what that worker
/// measured in itself; health reports what every running worker measured when it started.
/// </summary>
public static partial class LandlockReport
{
    /// <summary>Whether a worker's two states (process layer, git layer) say Landlock is in force.</summary>
    public static bool InForce(string worker, string git) =>
        worker.StartsWith("applied", StringComparison.Ordinal) && git.StartsWith("applied", StringComparison.Ordinal);

    /// <summary>
    /// One clause for the health message, and whether the check must be degraded: Landlock is wanted
    /// (<paramref name="requested"/>) and the kernel has it, yet a running worker is not confined by it.
    /// </summary>
    public static (bool Degraded, string Text) Summarize(bool requested, IReadOnlyCollection<(string Agent, string Worker, string Git)> running)
    {
        if (!requested) return (false, "landlock: not applied (disabled by Sandbox:WorkerLandlock=false)");
        if (running.Count == 0) return (false, "landlock: no worker running");
        var missing = running.Where(w => !InForce(w.Worker, w.Git)).ToList();
        if (missing.Count == 0) return (false, $"landlock: applied in {running.Count} of {running.Count} running workers");
        var first = missing[0];
        var text = $"landlock: not applied in {missing.Count} of {running.Count} running workers (agent '{first.Agent}': {(InForce(first.Worker, "applied") ? "git processes " + first.Git : first.Worker)})";
        // A kernel without Landlock is a fact of the host, not a fault: reported, not degraded.
        return (Abi() > 0, text);
    }

    /// <summary>The kernel's Landlock ABI, or 0.</summary>
    public static int Abi()
    {
        try { return (int)Math.Max(0, Sys.LandlockAbi()); }
        catch (EntryPointNotFoundException) { return 0; }
    }

    /// <summary>
    /// Starts the real worker, confined like an agent's (bubblewrap, seccomp, the probe uid), and returns the
    /// Landlock line of the diagnostics from what it measured in itself.
    /// </summary>
    internal static MechanismStatus Probe(SandboxOptions options, Launcher launcher, uint probeUid, string dotnetRoot)
    {
        var abi = Abi();
        if (!options.WorkerLandlock)
            return new MechanismStatus("landlock", false, $"not applied: disabled by Sandbox:WorkerLandlock=false (kernel ABI {abi})", Required: false);
        if (abi <= 0) return new MechanismStatus("landlock", false, "not applied: the kernel has no Landlock (the mount namespace still limits the file system view)", Required: false);
        var workerDir = options.WorkerDirectory ?? AppContext.BaseDirectory.TrimEnd('/');
        var dir = Path.Combine(options.DataDirectory, "sandbox", "diagnose-landlock-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        try
        {
            var workspace = Path.Combine(dir, "workspace");
            var trash = Path.Combine(dir, "trash");
            Directory.CreateDirectory(workspace);
            Directory.CreateDirectory(trash);
            foreach (var d in new[] { dir, workspace, trash }) Libc.chown(d, probeUid, probeUid);
            var env = new Dictionary<string, string>
            {
                ["PATH"] = "/usr/bin:/bin", ["HOME"] = "/tmp", ["LANG"] = "C.UTF-8", ["DOTNET_ROOT"] = "/opt/kruxos/dotnet",
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1", ["DOTNET_EnableDiagnostics"] = "0", ["DOTNET_gcServer"] = "0", ["DOTNET_TieredPGO"] = "0",
            };
            var command = new List<string> { "/opt/kruxos/dotnet/dotnet", WorkerFiles.InsideDirectory + "/KruxOS.SandboxWorker.dll", "--agent", "diagnose", "--trash", "/trash", "--root", "/workspace=/workspace", "--landlock" };
            var spec = new LaunchSpec("diagnose", probeUid, workspace, [], [(dotnetRoot, "/opt/kruxos/dotnet"), .. WorkerFiles.Binds(workerDir)],
                [(trash, "/trash")], "/workspace", command, env, null, Worker: true);
            using var p = launcher.Start(spec);
            p.StandardInput.Close(); // the worker announces itself, then ends at the end of its input
            var stderr = p.StandardError.ReadToEndAsync();
            var ready = ReadReady(p.StandardOutput.BaseStream, TimeSpan.FromSeconds(30));
            if (!p.WaitForExit(30_000)) p.Kill(true);
            if (ready is null)
                return new MechanismStatus("landlock", false, "not applied: the probe worker did not start (" + Trim(stderr.IsCompleted ? stderr.Result : "no answer") + ")", Required: false);
            var (worker, git) = ready.Value;
            return InForce(worker, git)
                ? new MechanismStatus("landlock", true, $"{worker} in the warm worker, measured in a probe worker: listing / refused (EACCES); its git processes may execute only git and not write the trash (git layer {git}); not applied to process.run commands", Required: false)
                : new MechanismStatus("landlock", false, $"not applied (kernel ABI {abi}): the probe worker measured '{worker}', git layer '{git}'", Required: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return new MechanismStatus("landlock", false, "not measured: the probe worker could not run (" + e.Message + ")", Required: false);
        }
        finally
        {
            using var parent = SafeTree.OpenTrusted(Path.GetDirectoryName(dir)!);
            if (parent is not null) SafeTree.Delete(parent.Value, Path.GetFileName(dir));
        }
    }

    private static (string Worker, string Git)? ReadReady(Stream stdout, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            var frame = Protocol.Framing.ReadAsync(stdout, cts.Token).GetAwaiter().GetResult();
            if (frame is null) return null;
            using var doc = JsonDocument.Parse(frame);
            var root = doc.RootElement;
            if (!root.TryGetProperty("event", out var ev) || ev.GetString() != "ready") return null;
            return (Str(root, "landlock"), Str(root, "landlock_git"));
        }
        catch (Exception e) when (e is IOException or InvalidDataException or JsonException or OperationCanceledException) { return null; }
    }

    private static string Str(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() ?? "unknown" : "unknown";

    private static string Trim(string s) { s = s.Trim(); return s.Length > 300 ? s[^300..] : s; }

    private static partial class Sys
    {
        [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "syscall")]
        private static partial long Syscall(long number, nint attr, nuint size, uint flags);

        /// <summary>landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION).</summary>
        public static long LandlockAbi() => Syscall(444, 0, 0, 1);
    }
}
