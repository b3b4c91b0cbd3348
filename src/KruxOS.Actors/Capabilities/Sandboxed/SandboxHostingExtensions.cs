using KruxOS.Sandbox;
using KruxOS.Actors.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace KruxOS.Actors.Capabilities.Sandboxed;

/// <summary>The sandbox area: the node's sandbox host, which the sandboxed modules' handlers execute in.</summary>
public static class SandboxHostingExtensions
{
    /// <summary>
    /// The sandbox host (one per node; it probes the kernel mechanisms when created and fails every sandboxed call
    /// closed when they are missing).
    /// </summary>
    public static IServiceCollection AddSandboxArea(this IServiceCollection services, KruxOsSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        settings.Sandbox.DataDirectory = settings.DataDir;
        services.AddSingleton(sp => new SandboxHost(settings.Sandbox, mounts: null, sp.GetService<ILogger<SandboxHost>>()));
        services.AddSingleton<ISandbox>(sp => sp.GetRequiredService<SandboxHost>());
        return services;
    }
}
