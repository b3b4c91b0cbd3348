namespace KruxOS.Bridge;

/// <summary>Levels for <see cref="BridgeLog"/>.</summary>
public enum LogLevel
{
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// <summary>
/// Line-oriented logging to standard error (standard output belongs to the JSON-RPC stream).
/// <c>KRUXOS_LOG</c> sets the level: <c>debug</c>, <c>info</c> (default), <c>warn</c>, <c>error</c>.
/// Callers never pass tokens here.
/// </summary>
public sealed class BridgeLog(TextWriter sink, LogLevel level)
{
    private readonly Lock _gate = new();

    /// <summary>The active level.</summary>
    public LogLevel Level { get; } = level;

    /// <summary>Whether debug lines are written.</summary>
    public bool IsDebug => Level <= LogLevel.Debug;

    /// <summary>Parses <c>KRUXOS_LOG</c>; unknown or empty values mean <see cref="LogLevel.Info"/>.</summary>
    public static LogLevel ParseLevel(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "debug" or "trace" => LogLevel.Debug,
        "warn" or "warning" => LogLevel.Warn,
        "error" => LogLevel.Error,
        _ => LogLevel.Info,
    };

    public void Debug(string message) => Write(LogLevel.Debug, message);
    public void Info(string message) => Write(LogLevel.Info, message);
    public void Warn(string message) => Write(LogLevel.Warn, message);
    public void Error(string message) => Write(LogLevel.Error, message);

    private void Write(LogLevel at, string message)
    {
        if (at < Level) return;
        var tag = at switch { LogLevel.Debug => "debug", LogLevel.Info => "info", LogLevel.Warn => "warn", _ => "error" };
        lock (_gate)
        {
            sink.WriteLine($"mcp-bridge {DateTime.UtcNow:HH:mm:ss.fff} {tag}: {message}");
            sink.Flush();
        }
    }
}
