namespace KruxOS.Bridge;

/// <summary>Levels for <see cref="BridgeLog"/>.</summary>
public enum BridgeLogLevel
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
public sealed class BridgeLog(TextWriter sink, BridgeLogLevel level)
{
    private readonly Lock _gate = new();

    /// <summary>The active level.</summary>
    public BridgeLogLevel Level { get; } = level;

    /// <summary>Whether debug lines are written.</summary>
    public bool IsDebug => Level <= BridgeLogLevel.Debug;

    /// <summary>Parses <c>KRUXOS_LOG</c>; unknown or empty values mean <see cref="BridgeLogLevel.Info"/>.</summary>
    public static BridgeLogLevel ParseLevel(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "debug" or "trace" => BridgeLogLevel.Debug,
        "warn" or "warning" => BridgeLogLevel.Warn,
        "error" => BridgeLogLevel.Error,
        _ => BridgeLogLevel.Info,
    };

    public void Debug(string message) => Write(BridgeLogLevel.Debug, message);
    public void Info(string message) => Write(BridgeLogLevel.Info, message);
    public void Warn(string message) => Write(BridgeLogLevel.Warn, message);
    public void Error(string message) => Write(BridgeLogLevel.Error, message);

    private void Write(BridgeLogLevel at, string message)
    {
        if (at < Level) return;
        var tag = at switch { BridgeLogLevel.Debug => "debug", BridgeLogLevel.Info => "info", BridgeLogLevel.Warn => "warn", _ => "error" };
        lock (_gate)
        {
            sink.WriteLine($"mcp-bridge {DateTime.UtcNow:HH:mm:ss.fff} {tag}: {message}");
            sink.Flush();
        }
    }
}
