using System.CommandLine;
using KruxOS.Cli;

return await CliApp.RunAsync(args, Console.Out, Console.Error, CancellationToken.None);
