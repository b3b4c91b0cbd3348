using System.Globalization;

namespace KruxOS.LoadTest.Targets;

/// <summary>
/// The gateway's data directory and User API port, read back from the command line the driver started it
/// with (<c>/proc/&lt;pid&gt;/cmdline</c>, Linux). The cold-start scenarios need both (the control socket
/// lives in the data directory) and <see cref="TargetServer"/> does not expose them.
/// </summary>
public sealed record GatewayCommandLine(string DataDirectory, int UserApiPort)
{
    /// <summary>The control socket the gateway creates by default: <c>{data dir}/run/control.sock</c>.</summary>
    public string ControlSocket => Path.Combine(DataDirectory, "run", "control.sock");

    /// <summary>Reads the running gateway's command line; throws <see cref="InvalidOperationException"/> when it cannot.</summary>
    public static GatewayCommandLine Of(int pid)
    {
        string raw;
        try
        {
            raw = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidOperationException($"cannot read the gateway's command line (pid {pid}): {e.Message}", e);
        }
        return Parse(raw.Split('\0', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>Takes <c>--data-dir</c> and <c>--user-api-port</c> from <paramref name="argv"/> (both required, last one wins).</summary>
    public static GatewayCommandLine Parse(IReadOnlyList<string> argv)
    {
        string? dataDir = null;
        int? port = null;
        for (var i = 0; i + 1 < argv.Count; i++)
        {
            switch (argv[i])
            {
                case "--data-dir":
                    dataDir = argv[++i];
                    break;
                case "--user-api-port":
                    var v = argv[++i];
                    port = int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p is > 0 and <= 65535
                        ? p
                        : throw new InvalidOperationException($"the gateway's --user-api-port '{v}' is not a port");
                    break;
            }
        }
        if (dataDir is null || port is null)
            throw new InvalidOperationException("the gateway was not started with --data-dir and --user-api-port; the cold-start scenarios need both");
        return new GatewayCommandLine(dataDir, port.Value);
    }
}
