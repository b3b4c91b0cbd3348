using System.Runtime.InteropServices;
using System.Text.Json;
using KruxOS.Actors.Health;
using KruxOS.Actors.Identity;
using KruxOS.Capabilities;
using KruxOS.Core.Errors;

namespace KruxOS.Actors.Capabilities.SystemCategory;

/// <summary><c>system.info</c>: OS, uptime, CPU, memory and the data partition.</summary>
[Capability("system.info")]
public sealed class SystemInfoHandler(NodeFacts facts, IdentityDirectory identities) : ICapabilityHandler
{
    public async ValueTask<CapabilityOutput> ExecuteAsync(InvocationContext context, JsonElement arguments, CancellationToken cancellationToken)
    {
        try
        {
            var (memTotal, memAvail) = ProcStats.ParseMemory(await File.ReadAllTextAsync("/proc/meminfo", cancellationToken).ConfigureAwait(false));
            var uptimeText = await File.ReadAllTextAsync("/proc/uptime", cancellationToken).ConfigureAwait(false);
            var uptime = (long)double.Parse(uptimeText.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            var kernel = File.Exists("/proc/sys/kernel/osrelease")
                ? (await File.ReadAllTextAsync("/proc/sys/kernel/osrelease", cancellationToken).ConfigureAwait(false)).Trim()
                : Environment.OSVersion.Version.ToString();
            var drive = DiskSpace.DiskOf(facts.DataDirectory);
            return CapabilityCatalog.ToElement(new
            {
                os_version = $"{RuntimeInformation.OSDescription} (kernel {kernel})",
                uptime_seconds = uptime,
                agent_count = identities.Current.ActiveAgentCount,
                cpu_count = Environment.ProcessorCount,
                memory_total_bytes = memTotal,
                memory_available_bytes = memAvail,
                disk_total_bytes = drive.TotalSize,
                disk_available_bytes = drive.AvailableFreeSpace,
            });
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new CapabilityException(StructuredError.Create("SystemInfoError", $"A host statistic could not be read: {e.Message}")
                .WithRecovery("retry", "Try again; the operator can check the gateway log."));
        }
    }
}
