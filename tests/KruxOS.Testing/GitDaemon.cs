using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace KruxOS.Testing;

/// <summary>
/// A real <c>git daemon</c> on 127.0.0.1 and a port chosen at runtime, serving bare repositories from a
/// temporary directory (push enabled). Killed by its own pid on dispose. Shared by the sandbox and
/// gateway tests (the sandbox tests compile this file in by link).
/// </summary>
public sealed class GitDaemon : IAsyncDisposable
{
    private readonly Process _process;

    private GitDaemon(Process process, string root, int port)
    {
        _process = process;
        Root = root;
        Port = port;
    }

    public string Root { get; }
    public int Port { get; }
    public string Url(string repo) => $"git://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}/{repo}";

    /// <summary>Creates bare repositories <paramref name="repos"/> (branch main) and starts the daemon.</summary>
    public static async Task<GitDaemon> StartAsync(params string[] repos)
    {
        var root = Directory.CreateTempSubdirectory("kruxos-gitd-").FullName;
        foreach (var r in repos) Run(root, "init", "--bare", "-q", "-b", "main", r);
        var port = FreePort();
        var psi = new ProcessStartInfo("git") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1",
                     "--port=" + port.ToString(CultureInfo.InvariantCulture), "--base-path=" + root, root })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        var daemon = new GitDaemon(process, root, port);
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            try
            {
                using var probe = new TcpClient();
                await probe.ConnectAsync(IPAddress.Loopback, port);
                return daemon;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !process.HasExited) { await Task.Delay(50); }
            catch (SocketException)
            {
                await daemon.DisposeAsync();
                throw new InvalidOperationException("git daemon did not start: " + (process.HasExited ? await process.StandardError.ReadToEndAsync() : "timeout"));
            }
        }
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static string Run(string cwd, params string[] args)
    {
        var psi = new ProcessStartInfo("git") { WorkingDirectory = cwd, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var output = p.StandardOutput.ReadToEnd();
        var error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"git {string.Join(' ', args)}: {error}");
        return output;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
