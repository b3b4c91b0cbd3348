using KruxOS.Testing;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using KruxOS.Core;
using KruxOS.Core.Agents;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>What the specs need of the host: running a command as another uid, and the processes of a uid.</summary>
internal static class HostHelpers
{
    /// <summary>Runs a command as an unprivileged uid (setpriv), like a local user would; bounded.</summary>
    public static (int ExitCode, string StdOut, string StdErr) RunAs(uint uid, params string[] command)
    {
        var psi = new ProcessStartInfo("/usr/bin/setpriv") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
        foreach (var a in new[] { $"--reuid={uid}", $"--regid={uid}", "--clear-groups", "--" }.Concat(command)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(30_000)) { p.Kill(true); throw new TimeoutException(string.Join(' ', command)); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>Waits (bounded) until <paramref name="condition"/> holds; false when it never did.</summary>
    public static async Task<bool> Eventually(Func<bool> condition, TimeSpan? within = null)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < (within ?? TimeSpan.FromSeconds(30)))
        {
            if (condition()) return true;
            await Task.Delay(100, TestContext.Current.CancellationToken);
        }
        return condition();
    }

    /// <summary>Validates and executes one call on a host other than the fixture's.</summary>
    public static async Task<SandboxResult> Call(SandboxHost host, string agent, string capability, object? args = null)
    {
        Assert.True(SandboxFixture.Registry.TryResolve(capability, out var def), $"{capability} is not defined");
        var raw = JsonSerializer.SerializeToElement(args ?? new { }, CoreJson.Options);
        Assert.True(Core.Capabilities.ArgumentValidator.TryValidate(def, raw, out var normalized, out var error), error?.Message);
        return await host.ExecuteAsync(new SandboxRequest(AgentName.Parse(agent), def.Name, normalized), TestContext.Current.CancellationToken);
    }

    /// <summary>Calls and asserts success.</summary>
    public static async Task<JsonElement> Ok(SandboxHost host, string agent, string capability, object? args = null)
    {
        var r = await Call(host, agent, capability, args);
        Assert.True(r.IsSuccess, $"{capability} failed: {r.Error?.ErrorType}: {r.Error?.Message}");
        return r.Data!.Value;
    }
}

/// <summary>A sandbox host of its own (not the collection's), on a fresh data directory below a parent of a chosen mode.</summary>
internal sealed class OwnHost : IAsyncDisposable
{
    public OwnHost(UnixFileMode parentMode, string cgroupName, Action<SandboxOptions>? configure = null)
    {
        Parent = Path.Combine(Path.GetTempPath(), "kruxos-own-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Parent, parentMode);
        File.SetUnixFileMode(Parent, parentMode);
        Options = new SandboxOptions { DataDirectory = Path.Combine(Parent, "data"), CgroupName = cgroupName };
        configure?.Invoke(Options);
        Host = new SandboxHost(Options);
        Assert.Equal(Health.SandboxHealthStatus.Healthy, Host.Health.Status);
    }

    public string Parent { get; }
    public SandboxOptions Options { get; }
    public SandboxHost Host { get; }
    public string DataDirectory => Options.DataDirectory;

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        try { Directory.Delete(Parent, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
