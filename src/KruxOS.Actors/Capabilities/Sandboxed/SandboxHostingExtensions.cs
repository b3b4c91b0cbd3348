using KruxOS.Actors.Hosting;
using KruxOS.Core.Capabilities;
using KruxOS.Sandbox;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>Registers the node's sandbox and one handler per sandboxed capability definition.</summary>
public static class SandboxHostingExtensions
{
    /// <summary>
    /// The sandbox host (one per node; it probes the kernel mechanisms when created and fails every sandboxed
    /// call closed when they are missing) and the filesystem, process and git handlers.
    /// </summary>
    public static IServiceCollection AddSandboxedCapabilities(this IServiceCollection services, KruxOsSettings settings)
    {
        settings.Sandbox.DataDirectory = settings.DataDir;
        services.AddSingleton(sp => new SandboxHost(settings.Sandbox, mounts: null, sp.GetService<ILogger<SandboxHost>>()));
        services.AddSingleton<ISandbox>(sp => sp.GetRequiredService<SandboxHost>());
        foreach (var definition in DefinitionLoader.BuiltIn().Where(d => d.Execution == ExecutionMode.Sandboxed))
        {
            var name = definition.Name;
            services.AddSingleton<ICapabilityHandler>(sp =>
            {
                var sandbox = sp.GetRequiredService<ISandbox>();
                if (!sandbox.Handles(name)) throw new InvalidOperationException($"the sandbox does not execute '{name}'");
                return new SandboxedCapabilityHandler(name, sandbox, settings.Sandbox.DefaultCallTimeout);
            });
        }
        return services;
    }
}
