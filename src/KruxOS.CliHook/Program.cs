using KruxOS.CliHook;

await using var stdin = Console.OpenStandardInput();
return await HookRunner.RunAsync(args, Environment.GetEnvironmentVariable, stdin, Console.Out, Console.Error);
