using System.Reflection;
using KruxOS.Actors.Cluster;

namespace KruxOS.Gateway.Hosting;

/// <summary>
/// How the gateway process ends when it cannot start: one line on standard error naming the setting or the cause, and an
/// exit code (78, <c>EX_CONFIG</c>, for settings; 70, <c>EX_SOFTWARE</c>, otherwise) — never an unhandled exception or a
/// core dump. The appliance's unit does not restart on 78 (a restart cannot fix a setting).
/// </summary>
public static class StartupFailure
{
    /// <summary>The exit code of a start refused for its settings.</summary>
    public const int ConfigurationExitCode = 78;

    /// <summary>The exit code of any other failure to start or run.</summary>
    public const int SoftwareExitCode = 70;

    /// <summary>The innermost meaningful exception and the exit code for it.</summary>
    public static (string Message, int ExitCode) Describe(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var e = error;
        while (true)
        {
            if (e is AggregateException { InnerExceptions.Count: 1 } agg) e = agg.InnerExceptions[0];
            else if (e is TargetInvocationException { InnerException: { } inner }) e = inner;
            else break;
        }
        var configuration = e is ArgumentException or FormatException or ClusterStartException
            || (e is InvalidOperationException && e.Message.Contains("configuration", StringComparison.OrdinalIgnoreCase));
        var message = e.Message;
        for (var inner = e.InnerException; inner is not null && message.Length < 600; inner = inner.InnerException)
            if (!message.Contains(inner.Message, StringComparison.Ordinal)) message += ": " + inner.Message;
        return (message.ReplaceLineEndings(" "), configuration ? ConfigurationExitCode : SoftwareExitCode);
    }

    /// <summary>Writes the line and returns the exit code.</summary>
    public static int Report(Exception error, TextWriter stderr)
    {
        ArgumentNullException.ThrowIfNull(stderr);
        var (message, code) = Describe(error);
        stderr.WriteLine($"KruxOS: the gateway cannot start: {message}");
        return code;
    }
}
