using KruxOS.Capabilities;
using KruxOS.Core.Capabilities;
using KruxOS.Sandbox;
using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>
/// A module whose definitions run in the agent's kernel sandbox: one <see cref="SandboxedCapabilityHandler"/> per
/// <c>execution: sandboxed</c> definition, driven by the definition's data. A definition of another execution mode
/// needs its own <see cref="CapabilityAttribute"/> handler.
/// </summary>
public abstract class SandboxedModule(string name, params string[] categories) : CapabilityModule(name, categories)
{
    /// <inheritdoc />
    public override ICapabilityHandler? CreateHandler(CapabilityDefinition definition, IServiceProvider services)
    {
        ArgumentNullException.ThrowIfNull(definition);
        if (definition.Execution != ExecutionMode.Sandboxed) return null;
        var settings = services.GetRequiredService<KruxOsSettings>();
        return new SandboxedCapabilityHandler(definition, services.GetRequiredService<ISandbox>(), settings.Sandbox.DefaultCallTimeout,
            services.GetService<KruxOS.Actors.State.BriefingFeeds>());
    }
}

/// <summary>The <c>filesystem.*</c> capabilities, in the agent's sandbox.</summary>
public sealed class FilesystemModule() : SandboxedModule("filesystem", "filesystem");

/// <summary>The <c>process.*</c> capabilities, in the agent's sandbox.</summary>
public sealed class ProcessModule() : SandboxedModule("process", "process");

/// <summary>The <c>git.*</c> capabilities, in the agent's sandbox.</summary>
public sealed class GitModule() : SandboxedModule("git", "git");
