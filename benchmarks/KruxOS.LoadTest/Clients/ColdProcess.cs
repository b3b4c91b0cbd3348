using System.Diagnostics;
using KruxOS.LoadTest.Stats;

namespace KruxOS.LoadTest.Clients;

/// <summary>Where a cold run's clock stops.</summary>
public enum AnswerPoint
{
    /// <summary>At the first stdout line the judge accepts as the answer; stdin is closed after it and the exit awaited.</summary>
    AnswerLine,

    /// <summary>When the process has exited and its stdout is drained (<c>--help</c>: the bare process start).</summary>
    Exit,
}

/// <summary>
/// One program start to time: <c>dotnet <see cref="Dll"/> <see cref="Args"/></c> with <see cref="Stdin"/>
/// written at once. Credentials go in <see cref="Environment"/>, never in <see cref="Args"/>.
/// </summary>
/// <param name="Dll">The program's DLL (run from its own folder, so its runtimeconfig applies).</param>
/// <param name="Args">Arguments (never a credential).</param>
/// <param name="Environment">Variables set for the child; inherited <c>KRUXOS_</c> variables are removed first.</param>
/// <param name="Stdin">Bytes written to stdin right after the spawn.</param>
/// <param name="CloseStdinAfterWrite">Close stdin after writing (the hook reads to end of input); the bridge keeps it open until the answer.</param>
/// <param name="Stop">Where the clock stops.</param>
/// <param name="Judge">
/// <see cref="AnswerPoint.AnswerLine"/>: given a stdout line, the outcome when it is the answer, or null to keep reading.
/// <see cref="AnswerPoint.Exit"/>: given all of stdout, the outcome of the run.
/// </param>
public sealed record ColdCommand(
    string Dll,
    IReadOnlyList<string> Args,
    IReadOnlyDictionary<string, string> Environment,
    byte[] Stdin,
    bool CloseStdinAfterWrite,
    AnswerPoint Stop,
    Func<string, CallOutcome?> Judge);

/// <summary>What one timed operation measured by itself: its outcome and the time to its answer.</summary>
public readonly record struct TimedOutcome(CallOutcome Outcome, TimeSpan Elapsed);

/// <summary>
/// Runs one <see cref="ColdCommand"/> as a fresh process and times it from just before the spawn to the
/// answer. A run that does not finish (answer and clean exit) within the timeout is killed with its tree and
/// counts as a timeout; a non-zero exit or a missing answer is a failure.
/// </summary>
public static class ColdProcess
{
    /// <summary>Runs <paramref name="command"/> once.</summary>
    public static async Task<TimedOutcome> RunAsync(ColdCommand command, TimeSpan timeout, CancellationToken ct)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = Path.GetDirectoryName(Path.GetFullPath(command.Dll))!,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(command.Dll);
        foreach (var a in command.Args) psi.ArgumentList.Add(a);
        foreach (var key in psi.Environment.Keys.Where(k => k.StartsWith("KRUXOS_", StringComparison.Ordinal)).ToList())
            psi.Environment.Remove(key);
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        foreach (var (key, value) in command.Environment) psi.Environment[key] = value;

        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(ct);
        bounded.CancelAfter(timeout);
        using var process = new Process { StartInfo = psi };
        var t0 = Stopwatch.GetTimestamp();
        process.Start();
        try
        {
            // stderr carries the programs' logs; drain it so a chatty child never blocks on a full pipe.
            var stderr = process.StandardError.ReadToEndAsync(CancellationToken.None);
            var stdin = process.StandardInput.BaseStream;
            await stdin.WriteAsync(command.Stdin, bounded.Token).ConfigureAwait(false);
            await stdin.FlushAsync(bounded.Token).ConfigureAwait(false);
            if (command.CloseStdinAfterWrite) process.StandardInput.Close();

            CallOutcome outcome;
            long answeredAt;
            if (command.Stop == AnswerPoint.Exit)
            {
                var output = await process.StandardOutput.ReadToEndAsync(bounded.Token).ConfigureAwait(false);
                await process.WaitForExitAsync(bounded.Token).ConfigureAwait(false);
                answeredAt = Stopwatch.GetTimestamp();
                outcome = process.ExitCode == 0 ? command.Judge(output) ?? Failed("no output") : Failed($"exit {process.ExitCode}");
            }
            else
            {
                CallOutcome? answer = null;
                while (answer is null && await process.StandardOutput.ReadLineAsync(bounded.Token).ConfigureAwait(false) is { } line)
                    answer = command.Judge(line);
                answeredAt = Stopwatch.GetTimestamp();
                if (!command.CloseStdinAfterWrite) process.StandardInput.Close();
                await process.StandardOutput.ReadToEndAsync(bounded.Token).ConfigureAwait(false);
                await process.WaitForExitAsync(bounded.Token).ConfigureAwait(false);
                outcome = answer is null ? Failed($"no answer, exit {process.ExitCode}")
                    : process.ExitCode != 0 ? Failed($"exit {process.ExitCode}")
                    : answer.Value;
            }
            await stderr.WaitAsync(bounded.Token).ConfigureAwait(false);
            return new TimedOutcome(outcome, Stopwatch.GetElapsedTime(t0, answeredAt));
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new TimedOutcome(CallOutcome.TimedOut(), Stopwatch.GetElapsedTime(t0));
        }
        catch (IOException e)
        {
            // A broken pipe: the child exited before reading its input.
            return new TimedOutcome(CallOutcome.Transport(e.GetType().Name), Stopwatch.GetElapsedTime(t0));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private static CallOutcome Failed(string detail) => new(OutcomeKind.TransportError, detail);
}
