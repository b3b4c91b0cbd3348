using System.Text.Json;
using KruxOS.Core;
using KruxOS.Core.Agents;
using KruxOS.Core.Capabilities;
using Xunit;

namespace KruxOS.Sandbox.Tests;

/// <summary>
/// One confined <see cref="SandboxHost"/> for the test collection, on a private data directory and a
/// private cgroup subtree that are both removed at the end. Arguments go through the real capability
/// definitions and validator, as the gateway does.
/// </summary>
public sealed class SandboxFixture : IAsyncLifetime
{
    public static readonly CapabilityRegistry Registry = new(DefinitionLoader.BuiltIn());

    /// <summary>A root-only (0700) directory holding the data directory, as <c>/root</c> holds <c>/root/.kruxos</c>.</summary>
    public string PrivateParent { get; } = Path.Combine(Path.GetTempPath(), "kruxos-sbx-" + Guid.NewGuid().ToString("N")[..8]);
    public string DataDirectory => Path.Combine(PrivateParent, "data");
    public string CgroupName { get; } = "kruxos-test-" + Guid.NewGuid().ToString("N")[..8];
    public SandboxHost Host { get; private set; } = null!;
    public SandboxOptions Options { get; private set; } = null!;

    public ValueTask InitializeAsync()
    {
        // Both root-only (0700) on purpose, like a default ~/.kruxos under /root: the sandbox must work without
        // anyone making them traversable (ADR 0018), and nothing may loosen them.
        Directory.CreateDirectory(PrivateParent, (UnixFileMode)0x1C0);
        Directory.CreateDirectory(DataDirectory, (UnixFileMode)0x1C0);
        Options = new SandboxOptions { DataDirectory = DataDirectory, CgroupName = CgroupName };
        Options.Agents["small"] = new AgentSandboxSettings { Limits = new SandboxLimits(256L * 1024 * 1024, 0.5, 40) };
        Options.Agents["tiny"] = new AgentSandboxSettings { Limits = new SandboxLimits(128L * 1024 * 1024, 0.5, 100) };
        Host = new SandboxHost(Options, logger: new FileLogger<SandboxHost>(Path.Combine(DataDirectory, "sandbox-tests.log")));
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        try { Directory.Delete(PrivateParent, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The git remotes each test agent's "policy" allows (the gateway reads them from git.remotes).</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<string, Core.Policy.GitRemoteAllowlist> GitRemotes { get; } = new()
    {
        ["git-agent"] = new([["file:///mnt/remotes"]]),
    };

    /// <summary>Validates like the gateway, then executes.</summary>
    public async Task<SandboxResult> Call(string agent, string capability, object? args = null)
    {
        Assert.True(Registry.TryResolve(capability, out var def), $"{capability} is not defined");
        var raw = JsonSerializer.SerializeToElement(args ?? new { }, CoreJson.Options);
        Assert.True(ArgumentValidator.TryValidate(def, raw, out var normalized, out var error), error?.Message);
        return await Host.ExecuteAsync(new SandboxRequest(AgentName.Parse(agent), def.Name, normalized, GitRemotes: GitRemotes.GetValueOrDefault(agent)),
            TestContext.Current.CancellationToken);
    }

    /// <summary>Calls and asserts success; returns the data.</summary>
    public async Task<JsonElement> Ok(string agent, string capability, object? args = null)
    {
        var r = await Call(agent, capability, args);
        Assert.True(r.IsSuccess, $"{capability} failed: {r.Error?.ErrorType}: {r.Error?.Message}");
        return r.Data!.Value;
    }

    /// <summary>Calls and asserts the error type; returns the result.</summary>
    public async Task<SandboxResult> Fails(string agent, string capability, object? args, string errorType)
    {
        var r = await Call(agent, capability, args);
        Assert.False(r.IsSuccess, $"{capability} unexpectedly succeeded: {r.Data}");
        Assert.Equal(errorType, r.Error!.ErrorType);
        return r;
    }

    public string Workspace(string agent) => Host.WorkspaceOf(AgentName.Parse(agent));
}

[CollectionDefinition(Name)]
public sealed class SandboxCollection : ICollectionFixture<SandboxFixture>
{
    public const string Name = "sandbox";
}
