using Microsoft.Extensions.Logging;

namespace KruxOS.Sandbox.Tests;

/// <summary>Collects the sandbox's log lines (worker stderr included) in a file for failure analysis.</summary>
internal sealed class FileLogger<T>(string path) : ILogger<T>
{
    private readonly object _gate = new();
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;
    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_gate) File.AppendAllText(path, $"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {formatter(state, exception)}{Environment.NewLine}");
    }
}
