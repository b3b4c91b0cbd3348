using System.Runtime.InteropServices;
using KruxOS.LoadTest.Cli;
using KruxOS.LoadTest.Scenarios;
using KruxOS.LoadTest.Targets;

namespace KruxOS.LoadTest;

/// <summary>Command-line entry point of the load driver.</summary>
public static class Program
{
    /// <summary>Exit codes: 0 the driver worked, 1 a scenario run failed in the driver, 2 bad usage or missing build output, 130 interrupted.</summary>
    public static async Task<int> Main(string[] args)
    {
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(DriverOptions.Usage);
            return 0;
        }
        if (args.Contains("--list"))
        {
            foreach (var s in ScenarioRegistry.All) Console.WriteLine($"{s.Name,-14} {s.Description}");
            return 0;
        }
        DriverOptions options;
        try
        {
            options = DriverOptions.Parse(args);
            ScenarioRegistry.Select(options.Scenarios);
        }
        catch (Exception e) when (e is ArgumentException or LoopbackOnlyException)
        {
            await Console.Error.WriteLineAsync($"{e.Message}{Environment.NewLine}{DriverOptions.Usage}").ConfigureAwait(false);
            return 2;
        }

        using var cts = new CancellationTokenSource();
        var presses = 0;
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            // First Ctrl+C: stop cleanly (servers are stopped in finally blocks). Second: kill them now.
            if (Interlocked.Increment(ref presses) == 1)
            {
                e.Cancel = true;
                cts.Cancel();
            }
            else
            {
                ChildProcess.KillAll();
            }
        };
        Console.CancelKeyPress += onCancel;
        // SIGTERM (kill, CI timeouts) gets the same clean stop, so temporary data directories are removed too.
        // It may arrive twice (`timeout` signals the child and then its whole process group); SIGKILL is the hard stop.
        using var onTerm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx =>
        {
            ctx.Cancel = true;
            try { cts.Cancel(); }
            catch (ObjectDisposedException) { }
        });
        try
        {
            var (exitCode, _) = await new Driver(options, Console.Out).RunAsync(cts.Token).ConfigureAwait(false);
            return exitCode;
        }
        catch (FileNotFoundException e)
        {
            await Console.Error.WriteLineAsync(e.Message).ConfigureAwait(false);
            return 2;
        }
        catch (OperationCanceledException) when (cts.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("interrupted; servers stopped").ConfigureAwait(false);
            return 130;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
            ChildProcess.KillAll();
        }
    }
}
